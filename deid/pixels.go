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

// copy streams the pixel data value from the input, blanking each frame.
func (pc *pixelCleaner) copy(w *p10writer, ref *valueRef, ts syntax) error {
	if err := w.w.Flush(); err != nil {
		return err
	}
	if _, err := w.in.Seek(ref.offset, io.SeekStart); err != nil {
		return err
	}
	fs := pc.frameSize()
	if fs <= 0 || int64(fs) > ref.length {
		return fmt.Errorf("clean pixel data: frame of %d bytes does not fit the %d-byte pixel data", fs, ref.length)
	}
	buf := make([]byte, fs)
	left := ref.length
	for left >= int64(fs) {
		if _, err := io.ReadFull(w.in, buf); err != nil {
			return fmt.Errorf("clean pixel data: %w", err)
		}
		pc.blank(buf)
		if _, err := w.w.Write(buf); err != nil {
			return err
		}
		left -= int64(fs)
	}
	if left > 0 { // padding byte
		if _, err := io.CopyN(w.w, w.in, left); err != nil {
			return err
		}
	}
	return nil
}

// cleanInMemory blanks a pixel data value held in memory.
func (pc *pixelCleaner) cleanInMemory(v []byte, ts syntax) []byte {
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
