package consent

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeTree decodes one JSON value into nested map[string]any, []any,
// string, json.Number, bool and nil — the values encoding/json produces
// with UseNumber — and rejects what encoding/json lets through silently:
// duplicate object keys (two readers could disagree on which one counts),
// nesting deeper than maxJSONDepth and trailing data. Errors carry the
// JSON path and the byte offset.
//
// It is a small hand-written scanner because json.Decoder.Token, the only
// standard way to see duplicate keys, costs several times more; the fuzz
// test FuzzDecodeTree checks it against encoding/json.
func decodeTree(data []byte) (any, error) {
	d := &treeDecoder{data: data}
	d.skipSpace()
	v, err := d.value(nil, 0)
	if err != nil {
		return nil, err
	}
	d.skipSpace()
	if d.pos != len(d.data) {
		return nil, d.errorf(nil, "trailing data after the JSON value")
	}
	return v, nil
}

const maxJSONDepth = 64

type treeDecoder struct {
	data []byte
	pos  int
}

// pathElem is one step of the path to the value being decoded; the path
// string is only built when an error needs it.
type pathElem struct {
	parent *pathElem
	key    string
	index  int // -1 for an object key
}

func (p *pathElem) String() string {
	if p == nil {
		return ""
	}
	var parts []*pathElem
	for e := p; e != nil; e = e.parent {
		parts = append(parts, e)
	}
	var b strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		e := parts[i]
		if e.index >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(e.index))
			b.WriteByte(']')
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(e.key)
	}
	return b.String()
}

func (d *treeDecoder) errorf(path *pathElem, format string, args ...any) error {
	return &FHIRError{Path: path.String(), Offset: int64(d.pos), Problem: "malformed JSON: " + fmt.Sprintf(format, args...)}
}

func (d *treeDecoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *treeDecoder) value(path *pathElem, depth int) (any, error) {
	if d.pos >= len(d.data) {
		return nil, d.errorf(path, "unexpected end of input")
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return d.object(path, depth)
	case c == '[':
		return d.array(path, depth)
	case c == '"':
		return d.string(path)
	case c == '-' || '0' <= c && c <= '9':
		return d.number(path)
	case c == 't':
		return true, d.literal(path, "true")
	case c == 'f':
		return false, d.literal(path, "false")
	case c == 'n':
		return nil, d.literal(path, "null")
	default:
		return nil, d.errorf(path, "unexpected character %s", strconv.QuoteRune(rune(c)))
	}
}

func (d *treeDecoder) literal(path *pathElem, word string) error {
	if !strings.HasPrefix(string(d.data[d.pos:min(len(d.data), d.pos+len(word))]), word) {
		return d.errorf(path, "invalid literal (want %s)", word)
	}
	d.pos += len(word)
	return nil
}

func (d *treeDecoder) object(path *pathElem, depth int) (any, error) {
	if depth >= maxJSONDepth {
		return nil, d.errorf(path, "nested deeper than %d levels", maxJSONDepth)
	}
	d.pos++ // {
	m := map[string]any{}
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		return m, nil
	}
	for {
		d.skipSpace()
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return nil, d.errorf(path, "want an object key")
		}
		k, err := d.string(path)
		if err != nil {
			return nil, err
		}
		key := k.(string)
		elem := &pathElem{parent: path, key: key, index: -1}
		if _, dup := m[key]; dup {
			return nil, &FHIRError{Path: elem.String(), Offset: int64(d.pos), Problem: "duplicate key"}
		}
		d.skipSpace()
		if d.pos >= len(d.data) || d.data[d.pos] != ':' {
			return nil, d.errorf(elem, "want ':' after an object key")
		}
		d.pos++
		d.skipSpace()
		v, err := d.value(elem, depth+1)
		if err != nil {
			return nil, err
		}
		m[key] = v
		d.skipSpace()
		if d.pos >= len(d.data) {
			return nil, d.errorf(path, "unexpected end of input in an object")
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case '}':
			d.pos++
			return m, nil
		default:
			return nil, d.errorf(path, "want ',' or '}' in an object")
		}
	}
}

func (d *treeDecoder) array(path *pathElem, depth int) (any, error) {
	if depth >= maxJSONDepth {
		return nil, d.errorf(path, "nested deeper than %d levels", maxJSONDepth)
	}
	d.pos++ // [
	a := []any{}
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		return a, nil
	}
	for i := 0; ; i++ {
		d.skipSpace()
		v, err := d.value(&pathElem{parent: path, index: i}, depth+1)
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		d.skipSpace()
		if d.pos >= len(d.data) {
			return nil, d.errorf(path, "unexpected end of input in an array")
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case ']':
			d.pos++
			return a, nil
		default:
			return nil, d.errorf(path, "want ',' or ']' in an array")
		}
	}
}

// string decodes a JSON string the way encoding/json does: escapes
// resolved, a lone UTF-16 surrogate and invalid UTF-8 turned into U+FFFD.
func (d *treeDecoder) string(path *pathElem) (any, error) {
	start := d.pos + 1
	// Fast path: no escapes, plain valid UTF-8.
	i := start
	for i < len(d.data) {
		c := d.data[i]
		if c == '"' {
			if utf8.Valid(d.data[start:i]) {
				d.pos = i + 1
				return string(d.data[start:i]), nil
			}
			break
		}
		if c == '\\' || c < 0x20 {
			break
		}
		i++
	}
	b := make([]byte, 0, i-start+16)
	if utf8.Valid(d.data[start:i]) {
		b = append(b, d.data[start:i]...)
	} else {
		i = start
	}
	for {
		if i >= len(d.data) {
			d.pos = i
			return nil, d.errorf(path, "unterminated string")
		}
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return string(b), nil
		case c < 0x20:
			d.pos = i
			return nil, d.errorf(path, "control character in a string")
		case c == '\\':
			if i+1 >= len(d.data) {
				d.pos = i
				return nil, d.errorf(path, "unterminated escape")
			}
			switch e := d.data[i+1]; e {
			case '"', '\\', '/':
				b = append(b, e)
				i += 2
			case 'b':
				b, i = append(b, '\b'), i+2
			case 'f':
				b, i = append(b, '\f'), i+2
			case 'n':
				b, i = append(b, '\n'), i+2
			case 'r':
				b, i = append(b, '\r'), i+2
			case 't':
				b, i = append(b, '\t'), i+2
			case 'u':
				r, ok := hex4(d.data, i+2)
				if !ok {
					d.pos = i
					return nil, d.errorf(path, "invalid \\u escape")
				}
				i += 6
				if utf16.IsSurrogate(r) {
					if r2, ok := hex4(d.data, i+2); ok && i+1 < len(d.data) && d.data[i] == '\\' && d.data[i+1] == 'u' {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							r = dec
							i += 6
						} else {
							r = utf8.RuneError
						}
					} else {
						r = utf8.RuneError
					}
				}
				b = utf8.AppendRune(b, r)
			default:
				d.pos = i
				return nil, d.errorf(path, "invalid escape %s", strconv.QuoteRune(rune(e)))
			}
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRune(d.data[i:])
			b = utf8.AppendRune(b, r) // RuneError for invalid bytes, as encoding/json
			i += size
		}
	}
}

func hex4(data []byte, at int) (rune, bool) {
	if at+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[at : at+4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

func (d *treeDecoder) number(path *pathElem) (any, error) {
	start := d.pos
	i := d.pos
	digits := func() int {
		n := 0
		for i < len(d.data) && '0' <= d.data[i] && d.data[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(d.data) && d.data[i] == '-' {
		i++
	}
	switch {
	case i < len(d.data) && d.data[i] == '0':
		i++
	case digits() == 0:
		d.pos = i
		return nil, d.errorf(path, "invalid number")
	}
	if i < len(d.data) && d.data[i] == '.' {
		i++
		if digits() == 0 {
			d.pos = i
			return nil, d.errorf(path, "invalid number")
		}
	}
	if i < len(d.data) && (d.data[i] == 'e' || d.data[i] == 'E') {
		i++
		if i < len(d.data) && (d.data[i] == '+' || d.data[i] == '-') {
			i++
		}
		if digits() == 0 {
			d.pos = i
			return nil, d.errorf(path, "invalid number")
		}
	}
	d.pos = i
	return json.Number(d.data[start:i]), nil
}

// join appends an object key to a path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
