package consent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// decodeTree decodes one JSON value into nested map[string]any, []any,
// string, json.Number, bool and nil, rejecting what encoding/json lets
// through silently: duplicate object keys (two readers could disagree on
// which one counts), nesting deeper than maxJSONDepth and trailing data.
// Errors carry the JSON path and the byte offset.
func decodeTree(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, "", 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &FHIRError{Path: "", Offset: dec.InputOffset(), Problem: "trailing data after the JSON value"}
	}
	return v, nil
}

const maxJSONDepth = 64

func decodeValue(dec *json.Decoder, path string, depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, &FHIRError{Path: path, Offset: dec.InputOffset(), Problem: fmt.Sprintf("JSON nested deeper than %d levels", maxJSONDepth)}
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxError(dec, path, err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			m := map[string]any{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, syntaxError(dec, path, err)
				}
				k, ok := kt.(string)
				if !ok {
					return nil, &FHIRError{Path: path, Offset: dec.InputOffset(), Problem: "object key is not a string"}
				}
				if _, dup := m[k]; dup {
					return nil, &FHIRError{Path: join(path, k), Offset: dec.InputOffset(), Problem: "duplicate key"}
				}
				v, err := decodeValue(dec, join(path, k), depth+1)
				if err != nil {
					return nil, err
				}
				m[k] = v
			}
			if _, err := dec.Token(); err != nil {
				return nil, syntaxError(dec, path, err)
			}
			return m, nil
		case '[':
			var a []any
			for i := 0; dec.More(); i++ {
				v, err := decodeValue(dec, path+"["+strconv.Itoa(i)+"]", depth+1)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, syntaxError(dec, path, err)
			}
			if a == nil {
				a = []any{}
			}
			return a, nil
		}
		return nil, &FHIRError{Path: path, Offset: dec.InputOffset(), Problem: "unexpected " + t.String()}
	default:
		return t, nil
	}
}

func syntaxError(dec *json.Decoder, path string, err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return &FHIRError{Path: path, Offset: dec.InputOffset(), Problem: "malformed JSON", Err: err}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
