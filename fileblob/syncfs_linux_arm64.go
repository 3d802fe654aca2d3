package fileblob

const sysSyncfs = 267 // syncfs(2) on linux/arm64; package syscall has no name for it
