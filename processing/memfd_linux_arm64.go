package processing

const sysMemfdCreate = 279 // memfd_create(2) on linux/arm64; package syscall has no name for it
