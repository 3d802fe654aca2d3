package deid

import (
	"context"
	"io"
)

// ProcessBytes is ProcessFile for an input held in memory: data is the
// whole input file and the output is written to out; nothing is hashed
// (ProcessBytesDigest hashes both). Large values the engine copies
// unchanged (pixel data among them) reach out in single Write calls whose
// argument is the value's bytes within data itself, not a copy; a caller
// that owns data may keep such a slice where io.Writer's contract would
// not allow it otherwise (a processing run assembles its output from
// them). On quarantine or skip, out may hold a partial write that the
// caller discards. The engine neither modifies data nor keeps data or out
// after it returns.
func (e *Engine) ProcessBytes(ctx context.Context, data []byte, out io.Writer) (FileResult, error) {
	if err := ctx.Err(); err != nil {
		return FileResult{}, err
	}
	if data == nil {
		data = []byte{}
	}
	return e.processFile(ctx, nil, fixedOutput(out), data, nil, nil)
}
