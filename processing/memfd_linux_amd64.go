package processing

const sysMemfdCreate = 319 // memfd_create(2) on linux/amd64; package syscall has no name for it
