package consent

// DecodeTree exposes the JSON tree decoder to the external tests.
var DecodeTree = decodeTree
