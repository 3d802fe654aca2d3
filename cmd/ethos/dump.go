package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/ethos-imaging/ethos/dicom"
	"github.com/ethos-imaging/ethos/dicom/tag"
	"github.com/ethos-imaging/ethos/dicom/vr"
)

// runDump prints the elements of DICOM files, one per line, nested items
// indented. Values of large elements are left in the file (streaming
// reader), so any file size dumps in bounded memory.
func runDump(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "dump", "dump [--width N] [--meta=false] FILE...")
	width := fs.Int("width", 64, "show at most `N` characters of a value")
	meta := fs.Bool("meta", true, "print the file meta information")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("dump needs at least one FILE")
	}
	out := bufio.NewWriterSize(env.Stdout, 64<<10)
	defer out.Flush()
	failed := 0
	for _, p := range fs.Args() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := dumpFile(out, p, *width, *meta); err != nil {
			failed++
			fmt.Fprintf(env.Stderr, "ethos dump: %s: %v\n", p, err)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d files could not be read", failed, fs.NArg())
	}
	return nil
}

func dumpFile(w *bufio.Writer, path string, width int, meta bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rd, err := dicom.NewReader(f, dicom.WithBulkThreshold(64<<10))
	if err != nil {
		return err
	}
	defer rd.Close()
	fmt.Fprintf(w, "# %s\n# transfer syntax: %s (%s)\n", path, rd.Syntax.UID, rd.Syntax.Name)
	for _, warn := range rd.Warnings {
		fmt.Fprintf(w, "# warning: %s\n", warn)
	}
	if meta && rd.Meta != nil {
		for _, e := range rd.Meta.Elements {
			dumpElement(w, e, 0, width)
		}
	}
	for {
		e, err := rd.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		dumpElement(w, e, 0, width)
	}
}

func dumpElement(w *bufio.Writer, e *dicom.Element, depth, width int) {
	indent := strings.Repeat("  ", depth)
	kw := tag.Tag(e.Tag).Keyword()
	if kw == "" {
		kw = "?"
		if e.Tag.IsPrivate() {
			kw = "private"
		}
	}
	length := "u/l"
	if e.Length != dicom.UndefinedLength {
		length = strconv.FormatUint(uint64(e.Length), 10)
	}
	switch {
	case e.IsSequence():
		fmt.Fprintf(w, "%s%s %s (%d items) # %s %s\n", indent, e.Tag, e.VR, len(e.Items), length, kw)
		for i, it := range e.Items {
			fmt.Fprintf(w, "%s  (FFFE,E000) item %d\n", indent, i+1)
			for _, c := range it.Elements {
				dumpElement(w, c, depth+2, width)
			}
		}
		return
	case e.Bulk != nil:
		kind := "bytes"
		if e.Bulk.Encapsulated {
			kind = "bytes of fragments"
		}
		fmt.Fprintf(w, "%s%s %s (%d %s at offset %d) # %s %s\n", indent, e.Tag, e.VR, e.Bulk.Length, kind, e.Bulk.Offset, length, kw)
		return
	case e.IsEncapsulated():
		fmt.Fprintf(w, "%s%s %s (%d fragments) # %s %s\n", indent, e.Tag, e.VR, len(e.Fragments), length, kw)
		return
	}
	fmt.Fprintf(w, "%s%s %s %s # %s %s\n", indent, e.Tag, e.VR, showValue(e, width), length, kw)
}

func showValue(e *dicom.Element, width int) string {
	var s string
	switch e.VR.Kind() {
	case vr.KindString, vr.KindText:
		s = "[" + strings.Join(e.Texts(), `\`) + "]"
	case vr.KindNumber:
		var parts []string
		if e.VR == vr.FL || e.VR == vr.FD {
			for _, f := range e.Floats() {
				parts = append(parts, strconv.FormatFloat(f, 'g', -1, 64))
			}
		} else if e.VR == vr.AT {
			for _, u := range e.Uints() {
				parts = append(parts, tag.Tag(u).String())
			}
		} else {
			for _, i := range e.Ints() {
				parts = append(parts, strconv.FormatInt(i, 10))
			}
		}
		s = strings.Join(parts, `\`)
	default:
		n := min(len(e.Value), 8)
		s = fmt.Sprintf("% x", e.Value[:n])
		if len(e.Value) > n {
			s += " …"
		}
	}
	if r := []rune(s); len(r) > width {
		s = string(r[:width]) + "…"
	}
	return printable(s)
}

// printable escapes control characters (ISO 2022 escape sequences, line
// breaks) so a value cannot drive the terminal.
func printable(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
