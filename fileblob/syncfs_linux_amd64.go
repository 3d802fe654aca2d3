package fileblob

const sysSyncfs = 306 // syncfs(2) on linux/amd64; package syscall has no name for it
