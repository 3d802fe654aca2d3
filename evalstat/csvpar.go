package evalstat

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// chunkSize is the amount of CSV text parsed by one worker at a time.
const chunkSize = 1 << 20

// chunk is a run of whole records, parsed by a worker into its own Table
// (with its own dictionaries of group values), then merged in input order.
type chunk struct {
	data  []byte
	t     *Table
	lines int
	err   error
	done  chan struct{}
}

// readChunks reads the records after the header (which ended at line
// headerLines) in chunks parsed in parallel, and merges them in order, so
// the table (and the first error) is the same as a sequential read's.
//
// size is the input's length in bytes when known (else 0): after the first
// chunk, the table reserves room for the rows it predicts, so its columns
// are not copied as they grow.
func readChunks(br *bufio.Reader, headerLines int, cols columns, spec CSVSpec, size int64) (*Table, error) {
	t, err := NewTable(spec.Groups, spec.Cluster != "")
	if err != nil {
		return nil, err
	}
	workers := runtime.GOMAXPROCS(0)
	order := make(chan *chunk, 2*workers)
	jobs := make(chan *chunk, 2*workers)
	stop := make(chan struct{})
	var splitErr error
	var wg sync.WaitGroup
	// Chunk buffers and chunk tables go back to these free lists once
	// merged, so a long input reuses a few of them instead of allocating
	// (and faulting in, and collecting) fresh memory for every chunk.
	freeBufs := make(chan []byte, 4*workers)
	freeTables := make(chan *Table, 4*workers)
	var bytesPerRow atomic.Uint64 // float64 bits, from the first chunk read
	for range workers {
		wg.Go(func() {
			fp := newFastParser(cols, spec)
			for c := range jobs {
				select {
				case c.t = <-freeTables:
					c.t.reset()
				default:
					c.t, _ = NewTable(spec.Groups, spec.Cluster != "")
				}
				// Room for the rows: at one row per 16 bytes until a
				// chunk has been read, then at the bytes per row seen
				// (less a tenth, and 1,024 rows more), so that tables
				// made later are not three times the size they need.
				perRow := 16.0
				if b := bytesPerRow.Load(); b != 0 {
					perRow = max(1, math.Float64frombits(b)*0.9)
				}
				c.t.grow(int(float64(len(c.data))/perRow) + 1024)
				fp.reset()
				c.lines, c.err = fp.parseChunk(c.data, c.t)
				if n := c.t.Len(); c.err == nil && n > 0 {
					bytesPerRow.CompareAndSwap(0, math.Float64bits(float64(len(c.data))/float64(n)))
				}
				close(c.done)
			}
		})
	}
	go func() {
		defer close(order)
		defer close(jobs)
		splitErr = splitRecords(br, freeBufs, func(data []byte) bool {
			c := &chunk{data: data, done: make(chan struct{})}
			select {
			case order <- c:
			case <-stop:
				return false
			}
			jobs <- c
			return true
		})
	}()
	rows, lines := 0, headerLines
	var first error
	for c := range order {
		<-c.done
		if first == nil {
			if c.err != nil {
				if ce, ok := errors.AsType[*CSVError](c.err); ok {
					ce.Row += rows
					ce.Line += lines
				}
				first = c.err
				close(stop)
			} else if size > 0 && t.Len() == 0 && c.t.Len() > 0 {
				// Predict the row count from the first chunk's bytes per row.
				perRow := float64(len(c.data)) / float64(c.t.Len())
				t.grow(int(float64(size)/perRow*1.02) + 1024)
			}
			if first == nil {
				if err := t.merge(c.t); err != nil {
					first = &CSVError{Row: rows + 1, Line: lines + 1, Err: err}
					close(stop)
				}
			}
		}
		rows += c.t.Len()
		lines += c.lines
		select {
		case freeBufs <- c.data[:0]:
		default:
		}
		select {
		case freeTables <- c.t:
		default:
		}
		c.t, c.data = nil, nil
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	if splitErr != nil {
		if ce, ok := errors.AsType[*CSVError](splitErr); ok {
			ce.Row = rows + 1
			ce.Line += lines
		}
		return nil, splitErr
	}
	return t, nil
}

// splitRecords cuts the input into pieces of about chunkSize bytes that end
// at a record boundary (a line break outside quotes) and hands each to
// emit, which returns false to stop. It takes buffers from free when they
// have room for the carried-over partial record and chunkSize more bytes.
func splitRecords(r io.Reader, free <-chan []byte, emit func([]byte) bool) error {
	var carry []byte
	for {
		var buf []byte
		select {
		case b := <-free:
			if cap(b) >= len(carry)+chunkSize {
				buf = b[:len(carry)]
			}
		default:
		}
		if buf == nil {
			buf = make([]byte, len(carry), len(carry)+chunkSize+4096)
		}
		copy(buf, carry)
		n, err := io.ReadFull(r, buf[len(carry):len(carry)+chunkSize])
		buf = buf[:len(carry)+n]
		eof := err == io.EOF || err == io.ErrUnexpectedEOF
		if err != nil && !eof {
			return err
		}
		if eof {
			if len(buf) > 0 {
				emit(buf)
			}
			return nil
		}
		cut := recordBoundary(buf)
		if cut < 0 {
			// No boundary: one record (a quoted field with line breaks)
			// longer than the buffer. Keep reading, within limits.
			if len(buf) > MaxRecordBytes+chunkSize {
				return &CSVError{Err: ErrRecordTooLong}
			}
			carry = buf
			continue
		}
		carry = append(carry[:0], buf[cut:]...)
		if !emit(buf[:cut]) {
			return nil
		}
	}
}

// recordBoundary returns the index just after the last line break of b
// that lies outside quotes (b starts at a record boundary), or -1.
func recordBoundary(b []byte) int {
	end := len(b)
	for {
		i := bytes.LastIndexByte(b[:end], '\n')
		if i < 0 {
			return -1
		}
		if bytes.Count(b[:i], []byte{'"'})%2 == 0 {
			return i + 1
		}
		end = i
	}
}

// merge appends the rows of u (a table with the same attributes, read from
// the input that follows t's) to t, translating u's codes to t's.
func (t *Table) merge(u *Table) error {
	levels := make([][]uint32, len(u.Attrs))
	for a, at := range u.Attrs {
		levels[a] = make([]uint32, len(at.Levels))
		for lc, name := range at.Levels {
			c, err := t.level(a, []byte(name))
			if err != nil {
				return err
			}
			levels[a][lc] = c
		}
	}
	cells := make([]uint32, len(u.Cells))
	for uc, codes := range u.Cells {
		var key uint64
		for a, c := range codes {
			key |= uint64(levels[a][c]) << (16 * a)
		}
		cell, ok := t.cellIdx[key]
		if !ok {
			if len(t.Cells) >= maxCells {
				return errors.New("evalstat: too many attribute combinations")
			}
			cell = uint32(len(t.Cells))
			t.cellIdx[key] = cell
			g := make([]uint32, len(codes))
			for a, c := range codes {
				g[a] = levels[a][c]
			}
			t.Cells = append(t.Cells, g)
		}
		cells[uc] = cell
	}
	t.score = append(t.score, u.score...)
	t.noteDigits(u.digits)
	for _, p := range u.pay {
		t.pay = append(t.pay, p&labelBit|cells[p&^labelBit])
	}
	if t.cluster != nil {
		cl := make([]uint32, len(u.clustIDs))
		for i, id := range u.clustIDs {
			cl[i] = t.clusterCode([]byte(id))
		}
		for _, c := range u.cluster {
			t.cluster = append(t.cluster, cl[c])
		}
	}
	t.sorted = false
	return nil
}
