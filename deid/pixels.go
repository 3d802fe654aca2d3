package deid

import (
	"fmt"
	"io"
	"strconv"
)

// pixelCleaner blanks rectangles of native (uncompressed) pixel data,
// frame by frame, so memory stays bounded by one frame.
type pixelCleaner struct {
	rows, cols, samples, bytesPer, frames int
	planar                                bool
	rects                                 [][4]int

	// Encapsulated RLE pixel data (rle.go): the cleaned fragments when the
	// value was read into memory, or the stream of the cleaned value and
	// its length when it stays in the file.
	rleFrags [][]byte
	rle      *rleStream
	rleLen   int64
}

func newPixelCleaner(ds *Dataset, rects [][4]int) (*pixelCleaner, error) {
	num := func(tag uint32, def int) int {
		s := ds.String(tag)
		if s == "" {
			if e := ds.Find(tag); e != nil && len(e.Value) >= 2 {
				return int(e.Value[0]) | int(e.Value[1])<<8
			}
			return def
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return def
		}
		return n
	}
	us := func(tag uint32) int {
		e := ds.Find(tag)
		if e == nil || len(e.Value) < 2 {
			return 0
		}
		return int(e.Value[0]) | int(e.Value[1])<<8 // little endian; big endian handled by the caller
	}
	pc := &pixelCleaner{
		rows: us(tagRows), cols: us(tagColumns), samples: us(0x00280002),
		frames: num(0x00280008, 1), planar: us(0x00280006) == 1, rects: rects,
	}
	bits := us(0x00280100)
	if pc.samples == 0 {
		pc.samples = 1
	}
	if bits%8 != 0 || bits == 0 {
		return nil, fmt.Errorf("clean pixel data: %d bits allocated is not supported", bits)
	}
	pc.bytesPer = bits / 8
	if pc.rows <= 0 || pc.cols <= 0 || pc.frames <= 0 || pc.samples > 4 || pc.bytesPer > 8 {
		return nil, fmt.Errorf("clean pixel data: image size unknown")
	}
	return pc, nil
}

func (pc *pixelCleaner) frameSize() int { return pc.rows * pc.cols * pc.samples * pc.bytesPer }

// blank zeroes the rectangles in one frame.
func (pc *pixelCleaner) blank(frame []byte) {
	for _, r := range pc.rects {
		x0, y0 := max(r[0], 0), max(r[1], 0)
		x1, y1 := min(r[0]+r[2], pc.cols), min(r[1]+r[3], pc.rows)
		if x0 >= x1 || y0 >= y1 {
			continue
		}
		if pc.planar {
			plane := pc.rows * pc.cols * pc.bytesPer
			for s := range pc.samples {
				for y := y0; y < y1; y++ {
					row := s*plane + y*pc.cols*pc.bytesPer
					clear(frame[row+x0*pc.bytesPer : row+x1*pc.bytesPer])
				}
			}
			continue
		}
		px := pc.samples * pc.bytesPer
		for y := y0; y < y1; y++ {
			row := y * pc.cols * px
			clear(frame[row+x0*px : row+x1*px])
		}
	}
}

// reader streams n bytes of native pixel data from in (positioned at the
// value), blanking the rectangles frame by frame: memory is one frame.
func (pc *pixelCleaner) reader(in io.Reader, n int64) io.Reader {
	return &cleaningReader{pc: pc, src: io.LimitReader(in, n), frame: make([]byte, 0, max(pc.frameSize(), 0))}
}

type cleaningReader struct {
	pc    *pixelCleaner
	src   io.Reader
	frame []byte // the current cleaned frame
	pos   int    // bytes of frame already returned
	err   error
}

func (r *cleaningReader) Read(p []byte) (int, error) {
	if r.pos >= len(r.frame) {
		if r.err != nil {
			return 0, r.err
		}
		fs := r.pc.frameSize()
		if fs <= 0 {
			return r.src.Read(p)
		}
		buf := r.frame[:fs]
		n, err := io.ReadFull(r.src, buf)
		switch {
		case err == nil:
			r.pc.blank(buf)
		case err == io.ErrUnexpectedEOF || err == io.EOF:
			// A last partial frame (a padding byte): passed through.
			r.err = io.EOF
		default:
			return 0, err
		}
		r.frame, r.pos = buf[:n], 0
		if n == 0 {
			return 0, io.EOF
		}
	}
	n := copy(p, r.frame[r.pos:])
	r.pos += n
	return n, nil
}

// cleanInMemory blanks a pixel data value held in memory.
func (pc *pixelCleaner) cleanInMemory(v []byte) []byte {
	out := append([]byte(nil), v...)
	fs := pc.frameSize()
	if fs <= 0 {
		return out
	}
	for off := 0; off+fs <= len(out); off += fs {
		pc.blank(out[off : off+fs])
	}
	return out
}
