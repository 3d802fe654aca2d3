// Package fileblob is the file-system adapter of ethos.BlobStore: an
// encrypted, content-addressed image store with one data key per subject
// and crypto-shredding (QC-COL-2).
//
// Layout under the store directory (mode 0700, files 0600):
//
//	<dir>/<data key id>/<64 hex digest>
//
// (Stores written before 2026-11-27 have a further directory level, named
// by the digest's first two hex digits, between the two; such blobs are
// still found, read and deleted.)
//
// A blob's address is HMAC-SHA-256 of its plaintext under an address key
// derived (HKDF) from the subject's data key, so identical files dedupe per
// subject only, and the address reveals nothing to anyone who lacks the
// key. The directory is named by the data key's random id, never by the
// subject key.
//
// A blob file is a header followed by the plaintext in 64 KiB segments,
// each sealed with AES-256-GCM under a per-blob key (HKDF of the data key
// and a random salt in the header). The nonce of segment i is a random
// 7-byte prefix, the 32-bit big-endian i and a byte that is 1 only on the
// last segment, and every segment authenticates the header as additional
// data (the last one also the blob's address); reordering, dropping,
// truncating or extending segments, or moving a blob file to another
// address, therefore fails authentication. Memory stays bounded whatever
// the blob's size: a 1 MiB staging buffer on write, a 1 MiB read-ahead on
// read (more only for segments above 512 KiB).
//
// Data keys are wrapped with AES-256-GCM under a master key (from a key
// file or an environment variable, see LoadMasterKey) with the subject key
// and data key id as additional data, and kept by an ethos.KeyStore;
// FileKeyStore is a standalone one (a 0600 JSON file rewritten atomically).
// Store.Rewrap re-encrypts every data key under a new master key.
//
// See docs/fileblob.md for the threat model and operations.
package fileblob
