package deid

import "syscall"

// mapPopulate asks the kernel to map every page of the file at once:
// one call instead of a page fault every few pages while the input is
// parsed and hashed.
const mapPopulate = syscall.MAP_POPULATE
