package dicom

import (
	"errors"
	"fmt"

	"github.com/ethos-imaging/ethos/dicom/tag"
)

// Sentinel errors; every *Error wraps one of them (test with errors.Is).
var (
	ErrNotDICOM      = errors.New("not a DICOM stream")
	ErrTruncated     = errors.New("input ends early")
	ErrBadLength     = errors.New("bad length")
	ErrBadVR         = errors.New("bad VR")
	ErrTooDeep       = errors.New("sequences nested too deep")
	ErrUnexpectedTag = errors.New("unexpected tag")
	ErrBulkNotLoaded = errors.New("value left in the source")
	ErrCannotEncode  = errors.New("cannot encode")
	ErrBadCharset    = errors.New("text not representable in the character set")
	ErrTooLarge      = errors.New("input too large")
	ErrClosed        = errors.New("reader or writer closed")
)

// Error reports a problem at a place in the encoded stream: the tag of the
// element being read or written (zero when none) and the byte offset from
// the start of the input (for deflated files, offsets past the meta group
// count inflated bytes). Messages never hold element values, so they are
// safe to log even for patient data.
type Error struct {
	Tag    tag.Tag
	Offset int64
	// Path names the sequence items enclosing the element, outermost
	// first (empty at top level).
	Path Path
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	where := fmt.Sprintf("at byte %d", e.Offset)
	if e.Tag != 0 {
		where = e.Tag.String() + " " + where
	}
	if len(e.Path) > 0 {
		where = e.Path.String() + " > " + where
	}
	if e.Msg == "" {
		return fmt.Sprintf("dicom: %s: %v", where, e.Err)
	}
	return fmt.Sprintf("dicom: %s: %s: %v", where, e.Msg, e.Err)
}

// Unwrap returns the sentinel (or underlying I/O error).
func (e *Error) Unwrap() error { return e.Err }

func errAt(t tag.Tag, off int64, sentinel error, format string, args ...any) *Error {
	return &Error{Tag: t, Offset: off, Msg: fmt.Sprintf(format, args...), Err: sentinel}
}
