package dicom

import (
	"errors"
	"io"
)

// readBuf is the decoder's read buffer. It behaves as the parts of
// bufio.Reader the decoder used (Peek, Discard, Read, ReadByte, Buffered,
// Reset), and lets the decoder see the unread bytes (buf[r:w]) so that it
// takes an element header or a small value from them in inlined code: a
// call to Peek and one to Discard for each header were a tenth of the
// reading.
type readBuf struct {
	buf  []byte
	r, w int // unread bytes: buf[r:w]
	src  io.Reader
	err  error // from src, returned once the buffered bytes are read
}

func newReadBuf(src io.Reader, size int) *readBuf {
	return &readBuf{buf: make([]byte, size), src: src}
}

// Reset drops the buffered bytes and reads from src next.
func (b *readBuf) Reset(src io.Reader) {
	b.src, b.r, b.w, b.err = src, 0, 0, nil
}

// Buffered returns how many unread bytes the buffer holds.
func (b *readBuf) Buffered() int { return b.w - b.r }

// errNoProgress is returned by a source that keeps reading nothing.
var errNoProgress = io.ErrNoProgress

// fill moves the unread bytes to the front and reads once into the rest
// (a source that returns nothing is asked again, a hundred times at most).
func (b *readBuf) fill() {
	if b.r > 0 {
		b.w = copy(b.buf, b.buf[b.r:b.w])
		b.r = 0
	}
	for range 100 {
		n, err := b.src.Read(b.buf[b.w:])
		if n < 0 || n > len(b.buf)-b.w {
			b.err = errors.New("dicom: source returned an invalid count")
			return
		}
		b.w += n
		if err != nil {
			b.err = err
			return
		}
		if n > 0 {
			return
		}
	}
	b.err = errNoProgress
}

// takeErr returns the source's error and forgets it.
func (b *readBuf) takeErr() error {
	err := b.err
	b.err = nil
	return err
}

// Peek returns the next n bytes without consuming them, or fewer (at the
// end of the input, or when n exceeds the buffer).
func (b *readBuf) Peek(n int) []byte {
	for b.w-b.r < n && b.w-b.r < len(b.buf) && b.err == nil {
		b.fill()
	}
	return b.buf[b.r : b.r+min(n, b.w-b.r)]
}

// Discard skips n bytes and returns how many it skipped (fewer at the
// end of the input).
func (b *readBuf) Discard(n int) int {
	done := 0
	for done < n {
		if b.r == b.w {
			if b.err != nil {
				b.takeErr()
				break
			}
			b.fill()
			continue
		}
		k := min(n-done, b.w-b.r)
		b.r += k
		done += k
	}
	return done
}

// Read reads into p: from the buffer, or with one read of the source when
// it is empty (straight into p when p is at least as large as the buffer).
func (b *readBuf) Read(p []byte) (int, error) {
	if len(p) == 0 {
		if b.r < b.w {
			return 0, nil
		}
		return 0, b.takeErr()
	}
	if b.r == b.w {
		if b.err != nil {
			return 0, b.takeErr()
		}
		if len(p) >= len(b.buf) {
			n, err := b.src.Read(p)
			if n < 0 || n > len(p) {
				return 0, errors.New("dicom: source returned an invalid count")
			}
			return n, err
		}
		b.r, b.w = 0, 0
		b.fill()
		if b.r == b.w {
			return 0, b.takeErr()
		}
	}
	n := copy(p, b.buf[b.r:b.w])
	b.r += n
	return n, nil
}

// ReadByte reads one byte (a deflate reader reads its input so).
func (b *readBuf) ReadByte() (byte, error) {
	for b.r == b.w {
		if b.err != nil {
			return 0, b.takeErr()
		}
		b.fill()
	}
	c := b.buf[b.r]
	b.r++
	return c, nil
}
