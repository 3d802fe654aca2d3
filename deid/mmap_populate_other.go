//go:build darwin || freebsd || netbsd || openbsd

package deid

const mapPopulate = 0
