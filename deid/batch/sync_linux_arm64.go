//go:build linux && arm64

package batch

const sysSyncfs = 267 // syncfs on linux/arm64
