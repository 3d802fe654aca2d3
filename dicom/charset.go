package dicom

import (
	"strings"
	"unicode/utf8"
)

// Specific Character Set handling (PS3.3 C.12.1.1.2, PS3.5 section 6.1).
// Ethos decodes the default repertoire, ISO_IR 100 (Latin-1) and ISO_IR 192
// (UTF-8). Other character sets are not decoded: their bytes are kept as
// read, and DecodeText reports ok == false so a caller can tell.

// DecodeText decodes b, a value of a text VR, under the given Specific
// Character Set values to UTF-8. ok is false when the set is one Ethos does
// not decode (the result is then the bytes unchanged).
func DecodeText(charsets []string, b []byte) (s string, ok bool) {
	switch charsetKind(charsets) {
	case csASCII, csUTF8:
		return string(b), true
	case csLatin1:
		return latin1ToUTF8(b), true
	}
	return string(b), false
}

// EncodeText encodes the UTF-8 string s for a dataset whose Specific
// Character Set is charsets. It fails with ErrBadCharset when s cannot be
// represented (a non-Latin-1 rune under ISO_IR 100, non-ASCII under the
// default repertoire or an undecoded set).
func EncodeText(charsets []string, s string) ([]byte, error) {
	switch charsetKind(charsets) {
	case csUTF8:
		if !utf8.ValidString(s) {
			return nil, ErrBadCharset
		}
		return []byte(s), nil
	case csLatin1:
		out := make([]byte, 0, len(s))
		for _, r := range s {
			if r > 0xFF || r == utf8.RuneError {
				return nil, ErrBadCharset
			}
			out = append(out, byte(r))
		}
		return out, nil
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return nil, ErrBadCharset
		}
	}
	return []byte(s), nil
}

type csKind int

const (
	csASCII csKind = iota
	csLatin1
	csUTF8
	csOther
)

func charsetKind(charsets []string) csKind {
	k := csASCII
	for i, c := range charsets {
		c = strings.TrimSpace(c)
		switch c {
		case "", "ISO_IR 6", "ISO 2022 IR 6":
			if i == 0 {
				k = csASCII
			}
		case "ISO_IR 100", "ISO 2022 IR 100":
			if k == csASCII {
				k = csLatin1
			} else if k != csLatin1 {
				return csOther
			}
		case "ISO_IR 192":
			return csUTF8
		default:
			return csOther
		}
	}
	return k
}

func latin1ToUTF8(b []byte) string {
	ascii := true
	for _, c := range b {
		if c >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + len(b)/2)
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return sb.String()
}

// splitCharsets splits a Specific Character Set value into its values.
func splitCharsets(v []byte) []string {
	s := strings.TrimRight(string(v), " \x00")
	if s == "" {
		return nil
	}
	parts := strings.Split(s, `\`)
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}
