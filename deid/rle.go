package deid

import (
	"encoding/binary"
	"fmt"
	"io"
)

// This file cleans RLE Lossless pixel data (PS3.5 Annex G) without
// leaving the compressed form: each frame is one fragment made of a
// 64-byte header (segment count, up to 15 segment offsets) and one
// PackBits-coded segment per byte plane (per sample, most significant
// byte first). Every segment decodes to Rows x Columns bytes, so a
// rectangle is blanked by zeroing it in each decoded plane; the planes
// are then re-encoded, row by row, and a new header is written. The
// result is lossless everywhere outside the rectangles.

const (
	rleHeaderSize  = 64
	rleMaxSegments = 15
)

// RLEError reports RLE pixel data that cannot be decoded.
type RLEError struct {
	Frame int // 0-based frame (fragment after the offset table)
	Msg   string
}

func (e *RLEError) Error() string { return fmt.Sprintf("rle frame %d: %s", e.Frame, e.Msg) }

// rleDecodeSegment decodes one PackBits segment into dst, which it must
// fill exactly; bytes after the last needed run are ignored (padding).
func rleDecodeSegment(dst, src []byte) error {
	o, i := 0, 0
	for o < len(dst) {
		if i >= len(src) {
			return fmt.Errorf("segment ends after %d of %d bytes", o, len(dst))
		}
		n := int(int8(src[i]))
		i++
		switch {
		case n >= 0: // literal run of n+1 bytes
			n++
			if i+n > len(src) || o+n > len(dst) {
				return fmt.Errorf("literal run of %d bytes overruns the segment at byte %d", n, i-1)
			}
			copy(dst[o:], src[i:i+n])
			i += n
			o += n
		case n == -128: // no operation
		default: // replicate the next byte 1-n times
			n = 1 - n
			if i >= len(src) || o+n > len(dst) {
				return fmt.Errorf("replicate run of %d bytes overruns the segment at byte %d", n, i-1)
			}
			b := src[i]
			i++
			for k := range n {
				dst[o+k] = b
			}
			o += n
		}
	}
	return nil
}

// rleEncodeRow appends the PackBits coding of one row to dst: runs of
// three or more equal bytes are replicated, the rest goes in literal runs
// of at most 128 bytes; no run crosses the end of the row (G.3.1).
func rleEncodeRow(dst, row []byte) []byte {
	i := 0
	for i < len(row) {
		// Length of the run of equal bytes starting at i.
		r := 1
		for i+r < len(row) && r < 128 && row[i+r] == row[i] {
			r++
		}
		if r >= 3 {
			dst = append(dst, byte(int8(1-r)), row[i])
			i += r
			continue
		}
		// A literal run up to the next run of three or the 128 limit.
		j := i
		for j < len(row) && j-i < 128 {
			if j+2 < len(row) && row[j] == row[j+1] && row[j] == row[j+2] {
				break
			}
			j++
		}
		dst = append(dst, byte(j-i-1))
		dst = append(dst, row[i:j]...)
		i = j
	}
	return dst
}

// rleFrameCleaner holds the buffers reused from frame to frame.
type rleFrameCleaner struct {
	pc    *pixelCleaner
	plane []byte
	out   []byte
}

// clean decodes frame (one RLE fragment), blanks the rectangles and
// returns the re-encoded fragment, valid until the next call. The
// fragment is padded to an even length.
func (c *rleFrameCleaner) clean(idx int, frame []byte) ([]byte, error) {
	pc := c.pc
	if len(frame) < rleHeaderSize {
		return nil, &RLEError{idx, fmt.Sprintf("fragment of %d bytes is shorter than the RLE header", len(frame))}
	}
	nseg := int(binary.LittleEndian.Uint32(frame))
	want := pc.samples * pc.bytesPer
	if nseg != want || nseg > rleMaxSegments {
		return nil, &RLEError{idx, fmt.Sprintf("%d segments where %d samples of %d bytes need %d", nseg, pc.samples, pc.bytesPer, want)}
	}
	var offs [rleMaxSegments + 1]int
	for s := range nseg {
		offs[s] = int(binary.LittleEndian.Uint32(frame[4+4*s:]))
	}
	offs[nseg] = len(frame)
	for s := range nseg {
		if offs[s] < rleHeaderSize || offs[s] > offs[s+1] {
			return nil, &RLEError{idx, fmt.Sprintf("segment %d offset %d out of order or inside the header", s+1, offs[s])}
		}
	}
	size := pc.rows * pc.cols
	if cap(c.plane) < size {
		c.plane = make([]byte, size)
	}
	plane := c.plane[:size]
	out := append(c.out[:0], make([]byte, rleHeaderSize)...)
	binary.LittleEndian.PutUint32(out, uint32(nseg))
	for s := range nseg {
		if err := rleDecodeSegment(plane, frame[offs[s]:offs[s+1]]); err != nil {
			return nil, &RLEError{idx, fmt.Sprintf("segment %d: %v", s+1, err)}
		}
		pc.blankPlane(plane)
		binary.LittleEndian.PutUint32(out[4+4*s:], uint32(len(out)))
		for y := range pc.rows {
			out = rleEncodeRow(out, plane[y*pc.cols:(y+1)*pc.cols])
		}
	}
	if len(out)%2 == 1 {
		out = append(out, 0)
	}
	c.out = out
	return out, nil
}

// blankPlane zeroes the rectangles in one byte plane (Rows x Columns).
func (pc *pixelCleaner) blankPlane(plane []byte) {
	for _, r := range pc.rects {
		x0, y0 := max(r[0], 0), max(r[1], 0)
		x1, y1 := min(r[0]+r[2], pc.cols), min(r[1]+r[3], pc.rows)
		if x0 >= x1 || y0 >= y1 {
			continue
		}
		for y := y0; y < y1; y++ {
			clear(plane[y*pc.cols+x0 : y*pc.cols+x1])
		}
	}
}

// fragment locates one item of an encapsulated value in the input.
type fragment struct{ off, n int64 }

// maxRLEFragment bounds the size of one RLE frame read into memory. The
// least efficient valid coding (every byte a literal run of one) doubles
// the frame; a fragment larger than that, plus the header and padding, is
// not an RLE frame of this image.
func (pc *pixelCleaner) maxRLEFragment() int64 {
	return int64(rleHeaderSize) + 2*int64(pc.frameSize()) + 16
}

// scanItems lists the items of an encapsulated value stored at
// [off, off+n) of src (item headers little endian, as RLE is): the
// offset table first, then the fragments.
func scanItems(src io.ReaderAt, off, n int64) ([]fragment, error) {
	var items []fragment
	var h [8]byte
	pos, end := off, off+n
	for pos+8 <= end {
		if _, err := src.ReadAt(h[:], pos); err != nil {
			return nil, fmt.Errorf("rle: item header at byte %d: %w", pos, err)
		}
		g, e := binary.LittleEndian.Uint16(h[0:]), binary.LittleEndian.Uint16(h[2:])
		ln := int64(binary.LittleEndian.Uint32(h[4:]))
		pos += 8
		if g == 0xFFFE && e == 0xE0DD {
			return items, nil
		}
		if g != 0xFFFE || e != 0xE000 || pos+ln > end {
			return nil, fmt.Errorf("rle: bad item (%04X,%04X) of %d bytes at byte %d", g, e, ln, pos-8)
		}
		items = append(items, fragment{pos, ln})
		pos += ln
	}
	return nil, fmt.Errorf("rle: no sequence delimiter before byte %d", end)
}

// rleStream produces the cleaned encapsulated value: the offset table
// item, one item per cleaned frame and the sequence delimiter, frame by
// frame, so memory is one frame in and one frame out.
type rleStream struct {
	c      *rleFrameCleaner
	src    io.ReaderAt
	frames []fragment
	bot    bool // write an offset table (the input had one)
	lens   []int
	next   int
	buf    []byte // pending output
	in     []byte
}

// newRLEStream checks the frames and encodes them once to learn the new
// lengths (needed for the offset table and the value's length); the
// bytes are produced by Read in a second pass.
func newRLEStream(pc *pixelCleaner, src io.ReaderAt, items []fragment) (*rleStream, int64, error) {
	if len(items) == 0 {
		return nil, 0, fmt.Errorf("rle: no offset table item")
	}
	frames := items[1:]
	if len(frames) != pc.frames {
		return nil, 0, fmt.Errorf("rle: %d fragments for %d frames (RLE needs one fragment per frame)", len(frames), pc.frames)
	}
	s := &rleStream{c: &rleFrameCleaner{pc: pc}, src: src, frames: frames, bot: items[0].n > 0}
	total := int64(8) + 8 // offset table item header, sequence delimiter
	if s.bot {
		total += 4 * int64(len(frames))
	}
	for i := range frames {
		out, err := s.frame(i)
		if err != nil {
			return nil, 0, err
		}
		s.lens = append(s.lens, len(out))
		total += 8 + int64(len(out))
	}
	s.buf = s.header()
	return s, total, nil
}

func (s *rleStream) frame(i int) ([]byte, error) {
	f := s.frames[i]
	if f.n > s.c.pc.maxRLEFragment() {
		return nil, &RLEError{i, fmt.Sprintf("fragment of %d bytes is larger than any RLE coding of a %dx%d frame", f.n, s.c.pc.cols, s.c.pc.rows)}
	}
	if int64(cap(s.in)) < f.n {
		s.in = make([]byte, f.n)
	}
	in := s.in[:f.n]
	if _, err := s.src.ReadAt(in, f.off); err != nil {
		return nil, fmt.Errorf("rle: read frame %d: %w", i, err)
	}
	return s.c.clean(i, in)
}

func itemHeader(b []byte, e uint16, n int) []byte {
	b = binary.LittleEndian.AppendUint16(b, 0xFFFE)
	b = binary.LittleEndian.AppendUint16(b, e)
	return binary.LittleEndian.AppendUint32(b, uint32(n))
}

func (s *rleStream) header() []byte {
	if !s.bot {
		return itemHeader(nil, 0xE000, 0)
	}
	b := itemHeader(nil, 0xE000, 4*len(s.lens))
	off := 0
	for _, n := range s.lens {
		b = binary.LittleEndian.AppendUint32(b, uint32(off))
		off += 8 + n
	}
	return b
}

func (s *rleStream) Read(p []byte) (int, error) {
	for len(s.buf) == 0 {
		switch {
		case s.next < len(s.frames):
			out, err := s.frame(s.next)
			if err != nil {
				return 0, err
			}
			if len(out) != s.lens[s.next] {
				return 0, &RLEError{s.next, "frame coded to a different length on the second pass"}
			}
			s.buf = append(itemHeader(s.buf[:0], 0xE000, len(out)), out...)
			s.next++
		case s.next == len(s.frames):
			s.buf = itemHeader(s.buf[:0], 0xE0DD, 0)
			s.next++
		default:
			return 0, io.EOF
		}
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}

// cleanRLEFragments cleans encapsulated RLE pixel data held in memory
// (Fragments[0] is the offset table) and returns the new fragments.
func (pc *pixelCleaner) cleanRLEFragments(frags [][]byte) ([][]byte, error) {
	if len(frags) == 0 {
		return nil, fmt.Errorf("rle: no offset table item")
	}
	if len(frags)-1 != pc.frames {
		return nil, fmt.Errorf("rle: %d fragments for %d frames (RLE needs one fragment per frame)", len(frags)-1, pc.frames)
	}
	c := &rleFrameCleaner{pc: pc}
	out := make([][]byte, len(frags))
	for i, f := range frags[1:] {
		b, err := c.clean(i, f)
		if err != nil {
			return nil, err
		}
		out[i+1] = append([]byte(nil), b...)
	}
	if len(frags[0]) > 0 {
		bot := make([]byte, 0, 4*pc.frames)
		off := 0
		for _, f := range out[1:] {
			bot = binary.LittleEndian.AppendUint32(bot, uint32(off))
			off += 8 + len(f)
		}
		out[0] = bot
	} else {
		out[0] = []byte{}
	}
	return out, nil
}
