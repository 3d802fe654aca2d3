//go:build linux && amd64

package batch

const sysSyncfs = 306 // syncfs on linux/amd64
