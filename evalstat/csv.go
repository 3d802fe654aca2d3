package evalstat

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
)

// CSVSpec names the columns ReadCSV takes from a predictions table.
type CSVSpec struct {
	Label   string   // 0/1 outcome
	Score   string   // predicted probability in [0, 1]
	Groups  []string // sensitive attributes (at most MaxAttributes)
	Cluster string   // optional cluster (patient) id; "" for none
}

// Limits of the CSV reader: a longer record or more columns is an error,
// never an unbounded allocation.
const (
	MaxRecordBytes = 1 << 20
	MaxColumns     = 4096
)

// CSVError is a problem at a place in the input. Row counts data rows from
// 1 (the header is row 0); Line is the physical line where the record
// starts; Column is the column's name when known.
type CSVError struct {
	Row    int
	Line   int
	Column string
	Err    error
}

func (e *CSVError) Error() string {
	switch {
	case e.Row == 0 && e.Column == "":
		return fmt.Sprintf("line %d: %v", e.Line, e.Err)
	case e.Row == 0:
		return fmt.Sprintf("header (line %d), column %q: %v", e.Line, e.Column, e.Err)
	case e.Column == "":
		return fmt.Sprintf("row %d (line %d): %v", e.Row, e.Line, e.Err)
	}
	return fmt.Sprintf("row %d (line %d), column %q: %v", e.Row, e.Line, e.Column, e.Err)
}

func (e *CSVError) Unwrap() error { return e.Err }

// Errors a CSVError may wrap.
var (
	ErrNoHeader      = errors.New("empty input: no header line")
	ErrNoRows        = errors.New("no data rows after the header")
	ErrMissingColumn = errors.New("column not found in the header")
	ErrDupColumn     = errors.New("column name appears more than once in the header")
	ErrLabel         = errors.New("label must be 0 or 1")
	ErrScore         = errors.New("score must be a number in [0, 1]")
	ErrFieldCount    = errors.New("wrong number of fields")
	ErrQuote         = errors.New("malformed quoted field")
	ErrRecordTooLong = errors.New("record longer than 1 MiB")
	ErrTooManyCols   = errors.New("more than 4096 columns")
	ErrEmptyCluster  = errors.New("cluster id is empty")
)

// ReadCSV reads a comma-separated table with a header line, plain or gzip
// (detected by its magic bytes), streaming, and returns the rows as a Table.
// Quoted fields (RFC 4180, with "" for a quote and line breaks inside
// quotes) are accepted; a trailing \r is dropped. An empty group value
// becomes the level "(missing)".
func ReadCSV(r io.Reader, spec CSVSpec) (*Table, error) {
	var size int64
	if f, ok := r.(interface{ Stat() (os.FileInfo, error) }); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fi.Size()
		}
	}
	br := bufio.NewReaderSize(r, 1<<16)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		size = 0
		br = bufio.NewReaderSize(zr, 1<<16)
	}
	cr := &csvReader{r: br}
	header, err := cr.next()
	if err == io.EOF {
		return nil, &CSVError{Line: 1, Err: ErrNoHeader}
	}
	if err != nil {
		return nil, err
	}
	if len(header) > 0 {
		header[0] = bytes.TrimPrefix(header[0], []byte("\xef\xbb\xbf"))
	}
	names := make([]string, len(header))
	for i, h := range header {
		names[i] = string(h)
	}
	find := func(col string) (int, error) {
		idx := -1
		for i, n := range names {
			if n == col {
				if idx >= 0 {
					return 0, &CSVError{Line: 1, Column: col, Err: ErrDupColumn}
				}
				idx = i
			}
		}
		if idx < 0 {
			return 0, &CSVError{Line: 1, Column: col, Err: ErrMissingColumn}
		}
		return idx, nil
	}
	li, err := find(spec.Label)
	if err != nil {
		return nil, err
	}
	si, err := find(spec.Score)
	if err != nil {
		return nil, err
	}
	gi := make([]int, len(spec.Groups))
	for k, g := range spec.Groups {
		if gi[k], err = find(g); err != nil {
			return nil, err
		}
	}
	ci := -1
	if spec.Cluster != "" {
		if ci, err = find(spec.Cluster); err != nil {
			return nil, err
		}
	}
	cols := columns{label: li, score: si, groups: gi, cluster: ci, n: len(names)}
	t, err := readChunks(br, cr.line, cols, spec, size)
	if err != nil {
		return nil, err
	}
	if t.Len() == 0 {
		return nil, &CSVError{Line: cr.line + 1, Err: ErrNoRows}
	}
	return t, nil
}

// columns are the positions of the columns ReadCSV uses.
type columns struct {
	label, score, cluster int
	groups                []int
	n                     int // fields per record
}

// parseRows appends every record of cr to t. Errors carry rows and lines
// counted from the start of cr.
func parseRows(cr *csvReader, cols columns, spec CSVSpec, t *Table) error {
	for row := 1; ; row++ {
		rec, err := cr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if ce, ok := errors.AsType[*CSVError](err); ok {
				ce.Row = row
			}
			return err
		}
		if len(rec) == 1 && len(rec[0]) == 0 {
			row-- // blank line
			continue
		}
		if len(rec) != cols.n {
			return &CSVError{Row: row, Line: cr.start, Err: fmt.Errorf("%w: %d, header has %d", ErrFieldCount, len(rec), cols.n)}
		}
		var label bool
		switch string(rec[cols.label]) {
		case "1", "1.0":
			label = true
		case "0", "0.0":
		default:
			return &CSVError{Row: row, Line: cr.start, Column: spec.Label, Err: ErrLabel}
		}
		score, ok := parseFloat(rec[cols.score])
		if !ok || math.IsNaN(score) || score < 0 || score > 1 {
			return &CSVError{Row: row, Line: cr.start, Column: spec.Score, Err: fmt.Errorf("%w, got %s", ErrScore, describe(rec[cols.score], score, ok))}
		}
		for k, i := range cols.groups {
			v := rec[i]
			if len(v) == 0 {
				v = []byte("(missing)")
			}
			c, err := t.level(k, v)
			if err != nil {
				return &CSVError{Row: row, Line: cr.start, Column: spec.Groups[k], Err: err}
			}
			t.codes[k] = c
		}
		var cl uint32
		if cols.cluster >= 0 {
			if len(rec[cols.cluster]) == 0 {
				return &CSVError{Row: row, Line: cr.start, Column: spec.Cluster, Err: ErrEmptyCluster}
			}
			cl = t.clusterCode(rec[cols.cluster])
		}
		if err := t.add(label, score, cl); err != nil {
			return &CSVError{Row: row, Line: cr.start, Err: err}
		}
		t.noteDigits(decimalDigits(rec[cols.score]))
	}
}

// describe says what is wrong with a score field without echoing it: a
// mislabelled column could hold an identifier, and identifiers never go
// into error messages.
func describe(b []byte, x float64, parsed bool) string {
	switch {
	case len(bytes.TrimSpace(b)) == 0:
		return "an empty field"
	case !parsed:
		return "text that is not a number"
	case math.IsNaN(x):
		return "NaN"
	case x < 0:
		return "a negative number"
	}
	return "a number above 1"
}

// csvReader splits records into fields; the fields alias an internal buffer
// valid until the next call.
type csvReader struct {
	r      *bufio.Reader
	line   int // lines read so far
	start  int // line where the last record started
	buf    []byte
	fields [][]byte
	ends   []int
}

// next returns the next record's fields, or io.EOF.
func (cr *csvReader) next() ([][]byte, error) {
	cr.start = cr.line + 1
	line, err := cr.readLine()
	if err != nil {
		return nil, err
	}
	cr.fields = cr.fields[:0]
	if bytes.IndexByte(line, '"') < 0 {
		for {
			i := bytes.IndexByte(line, ',')
			if i < 0 {
				cr.fields = append(cr.fields, line)
				break
			}
			cr.fields = append(cr.fields, line[:i])
			line = line[i+1:]
			if len(cr.fields) > MaxColumns {
				return nil, &CSVError{Line: cr.start, Err: ErrTooManyCols}
			}
		}
		return cr.fields, nil
	}
	return cr.quoted(line)
}

// readLine returns the next line without its \n or \r\n, or io.EOF.
func (cr *csvReader) readLine() ([]byte, error) {
	line, err := cr.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		cr.buf = append(cr.buf[:0], line...)
		for err == bufio.ErrBufferFull {
			if len(cr.buf) > MaxRecordBytes {
				return nil, &CSVError{Line: cr.line + 1, Err: ErrRecordTooLong}
			}
			line, err = cr.r.ReadSlice('\n')
			cr.buf = append(cr.buf, line...)
		}
		line = cr.buf
	}
	if err == io.EOF {
		if len(line) == 0 {
			return nil, io.EOF
		}
		err = nil
	}
	if err != nil {
		return nil, err
	}
	cr.line++
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	return line, nil
}

// quoted parses a record with quoted fields, reading more lines while a
// quoted field is open.
func (cr *csvReader) quoted(line []byte) ([][]byte, error) {
	out := make([]byte, 0, len(line))
	cr.ends = cr.ends[:0]
	inQuote, fieldStart := false, true
	wasQuoted := false
	for {
		for i := 0; i < len(line); i++ {
			c := line[i]
			switch {
			case inQuote && c == '"':
				if i+1 < len(line) && line[i+1] == '"' {
					out = append(out, '"')
					i++
				} else {
					inQuote = false
				}
			case inQuote:
				out = append(out, c)
			case c == '"' && fieldStart:
				inQuote, wasQuoted = true, true
				fieldStart = false
			case c == '"':
				return nil, &CSVError{Line: cr.start, Err: fmt.Errorf("%w: quote inside an unquoted field", ErrQuote)}
			case c == ',':
				cr.ends = append(cr.ends, len(out))
				fieldStart, wasQuoted = true, false
				if len(cr.ends) > MaxColumns {
					return nil, &CSVError{Line: cr.start, Err: ErrTooManyCols}
				}
			default:
				if wasQuoted {
					return nil, &CSVError{Line: cr.start, Err: fmt.Errorf("%w: text after a closing quote", ErrQuote)}
				}
				out = append(out, c)
				fieldStart = false
			}
		}
		if !inQuote {
			break
		}
		if len(out) > MaxRecordBytes {
			return nil, &CSVError{Line: cr.start, Err: ErrRecordTooLong}
		}
		next, err := cr.readLine()
		if err == io.EOF {
			return nil, &CSVError{Line: cr.start, Err: fmt.Errorf("%w: quoted field not closed at end of input", ErrQuote)}
		}
		if err != nil {
			return nil, err
		}
		out = append(out, '\n')
		line = next
	}
	cr.ends = append(cr.ends, len(out))
	cr.fields = cr.fields[:0]
	prev := 0
	for _, e := range cr.ends {
		cr.fields = append(cr.fields, out[prev:e])
		prev = e
	}
	return cr.fields, nil
}

// decimalDigits returns the number of digits after the point of a score
// written as plain decimal digits (with spaces around, as parseFloat
// allows), or -2 when it is written otherwise (Table.digits).
func decimalDigits(b []byte) int {
	b = bytes.TrimSpace(b)
	dot := bytes.IndexByte(b, '.')
	for i, c := range b {
		if (c < '0' || c > '9') && i != dot {
			return -2
		}
	}
	if dot < 0 {
		return 0
	}
	return len(b) - dot - 1
}

// pow10 holds the exactly representable powers of ten.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseFloat parses a decimal number. Plain decimals with at most 15
// significant digits take an exact fast path (an integer mantissa divided
// by an exact power of ten is correctly rounded); anything else goes to
// strconv.ParseFloat. Leading and trailing spaces are allowed.
func parseFloat(b []byte) (float64, bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return 0, false
	}
	var mant uint64
	digits, frac := 0, 0
	seenDot, ok := false, true
	for i, c := range b {
		switch {
		case c >= '0' && c <= '9':
			if mant == 0 && c == '0' && !seenDot {
				continue // leading zero
			}
			mant = mant*10 + uint64(c-'0')
			if mant != 0 {
				digits++
			}
			if seenDot {
				frac++
			}
		case c == '.' && !seenDot:
			seenDot = true
		default:
			ok = false
		}
		if !ok || digits > 15 || frac > 22 {
			ok = false
			break
		}
		_ = i
	}
	if ok && (len(b) > 1 || b[0] != '.') {
		return float64(mant) / pow10[frac], true
	}
	x, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return 0, false
	}
	return x, true
}
