package deid

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// ProcessFileDigest is ProcessFile that also returns the SHA-256 of the
// input file and, when the instance is written, of the output file, for
// the processing record. Where the platform allows, the input is mapped
// into memory: it is parsed and hashed in place and its pixel data,
// copied to the output by the kernel, is hashed from the mapping, so no
// byte is read twice and the output is not read back.
func (e *Engine) ProcessFileDigest(ctx context.Context, in, out *os.File) (res FileResult, err error) {
	return e.processFileDigest(ctx, in, fixedOutput(out))
}

func (e *Engine) processFileDigest(ctx context.Context, in *os.File, open outputFunc) (res FileResult, err error) {
	data, unmap, err := mapFile(in)
	if err != nil {
		return FileResult{}, err
	}
	defer unmap()
	var inSum string
	if data != nil {
		// A file truncated by someone else while mapped faults; turn the
		// fault into an error for this file instead of a crash.
		old := debug.SetPanicOnFault(true)
		defer func() {
			debug.SetPanicOnFault(old)
			if r := recover(); r != nil {
				res, err = FileResult{}, fmt.Errorf("deid: input changed while being read: %v", r)
			}
		}()
		s := sha256.Sum256(data)
		inSum = hex.EncodeToString(s[:])
	} else {
		h := sha256.New()
		if _, err := io.Copy(h, in); err != nil {
			return FileResult{}, fmt.Errorf("deid: read input: %w", err)
		}
		inSum = hex.EncodeToString(h.Sum(nil))
		if _, err := in.Seek(0, io.SeekStart); err != nil {
			return FileResult{}, err
		}
	}
	oh := sha256.New()
	res, err = e.processFile(ctx, in, open, data, oh, e.newPixelDigest())
	res.InputSHA256 = inSum
	if err == nil && !res.Quarantine && !res.Skip {
		res.OutputSHA256 = hex.EncodeToString(oh.Sum(nil))
	}
	return res, err
}

// ProcessBytesDigest is ProcessFileDigest for an input held in memory:
// data is the whole input file and the output is written to out, so a
// caller that decrypts its input and encrypts its output (a processing
// run over an encrypted store) needs no staging files. On quarantine or
// skip, out may hold a partial write that the caller discards. The
// engine does not keep data or out after it returns.
func (e *Engine) ProcessBytesDigest(ctx context.Context, data []byte, out io.Writer) (FileResult, error) {
	if err := ctx.Err(); err != nil {
		return FileResult{}, err
	}
	if data == nil {
		data = []byte{}
	}
	s := sha256.Sum256(data)
	oh := sha256.New()
	res, err := e.processFile(ctx, nil, fixedOutput(out), data, oh, e.newPixelDigest())
	res.InputSHA256 = hex.EncodeToString(s[:])
	if err == nil && !res.Quarantine && !res.Skip {
		res.OutputSHA256 = hex.EncodeToString(oh.Sum(nil))
	}
	return res, err
}
