package deid

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"

	"github.com/ethos-imaging/ethos/dicom"
	"github.com/ethos-imaging/ethos/dicom/uid"
)

// FileResult is the engine's decision for one file.
type FileResult struct {
	Quarantine bool
	Skip       bool
	Reasons    []string
	Name       string
	// Counts counts the actions by tag and action name; the per-tag maps
	// may be shared with other results of the engine (read only).
	Counts map[string]map[string]int
	// Group may be shared with other results of the engine (read only).
	Group map[string]string
	// InputSHA256 and OutputSHA256 are set by ProcessFileDigest.
	InputSHA256, OutputSHA256 string
	// InputPixelSHA256 and OutputPixelSHA256 are the digests of the
	// input's and the output's pixel data values (pixeldigest.go: the
	// SHA-256 of the Pixel Data, Float Pixel Data and Double Float Pixel
	// Data values as encoded, "" when there are none), set by
	// the digest entry points for a written instance when the engine's
	// PixelDigests is set.
	// Unless Clean Pixel Data changed the pixels (Counts has an entry for
	// (7FE0,0010)), equal digests show the pixels passed through unchanged.
	InputPixelSHA256, OutputPixelSHA256 string
}

// ProcessFile de-identifies the DICOM file in and writes the result to
// out (from its current position), unless the instance is quarantined or
// skipped, in which case out may hold a partial write that the caller
// discards. Pixel data and other large binary values are copied from in
// to out by the kernel, unchanged, unless Clean Pixel Data blanks regions.
func (e *Engine) ProcessFile(ctx context.Context, in, out *os.File) (FileResult, error) {
	if err := ctx.Err(); err != nil {
		return FileResult{}, err
	}
	return e.processFile(ctx, in, fixedOutput(out), nil, nil, nil)
}

// CreateFunc makes the output file of an instance that is to be written,
// given its name (FileResult.Name, slash separated).
type CreateFunc func(name string) (*os.File, error)

// ProcessFileTo is ProcessFile, or ProcessFileDigest when digest is set,
// with the output file made by create once the engine knows the
// instance's output name and that it is to be written: create is not
// called for a quarantined or skipped instance, and is called at most
// once. A caller can so make the output in its final directory (on
// ext4, a file's inode is allocated near its directory's) and never
// create and discard a file for an instance it withholds. An error from
// create is returned wrapped.
func (e *Engine) ProcessFileTo(ctx context.Context, in *os.File, create CreateFunc, digest bool) (FileResult, error) {
	if err := ctx.Err(); err != nil {
		return FileResult{}, err
	}
	open := func(name string) (io.Writer, error) {
		f, err := create(name)
		if err != nil {
			return nil, fmt.Errorf("deid: create output: %w", err)
		}
		return f, nil
	}
	if digest {
		return e.processFileDigest(ctx, in, open)
	}
	return e.processFile(ctx, in, open, nil, nil, nil)
}

// outputFunc returns the writer of an instance's output given its name.
type outputFunc func(name string) (io.Writer, error)

func fixedOutput(w io.Writer) outputFunc {
	return func(string) (io.Writer, error) { return w, nil }
}

// processFile is ProcessFile with an optional mapping of the input (data),
// an optional hash that receives every byte written to the output, and
// optional pixel digests (pd; the result's pixel digests are set from it
// when the instance is written). When data is set, in may be nil:
// everything is read from data. The output is asked of open only when the
// instance is to be written.
func (e *Engine) processFile(ctx context.Context, in *os.File, open outputFunc, data []byte, outHash hash.Hash, pd *pixelDigest) (FileResult, error) {
	sc := getScratch()
	defer sc.release()
	f, err := readCodec(in, data, sc)
	if err != nil {
		return FileResult{}, err
	}
	ds := f.ds
	if pd != nil {
		pd.collect(ds)
	}
	if sc := ds.String(tagSOPClassUID); sc == "1.2.840.10008.1.3.10" || f.meta.String(0x00020002) == "1.2.840.10008.1.3.10" {
		return FileResult{Skip: true, Reasons: []string{"media storage directory (DICOMDIR): rebuild it from the output"}}, nil
	}
	if f.big {
		// Binary values the engine reads (Rows, Columns, …) are little
		// endian in its helpers; convert the few it needs, and back
		// before writing.
		swapUS(ds)
	}
	if len(f.meta.Elements) == 0 {
		// No file meta: write one so the output is a conformant file.
		f.meta.Elements = []*Element{
			{Tag: 0x00020001, VR: "OB", Value: []byte{0, 1}},
			{Tag: 0x00020002, VR: "UI", Value: padUI(ds.String(tagSOPClassUID))},
			{Tag: 0x00020003, VR: "UI", Value: padUI(ds.String(tagSOPInstanceUID))},
			{Tag: 0x00020010, VR: "UI", Value: padUI(f.header.Syntax.UID)},
			{Tag: 0x00020012, VR: "UI", Value: padUI(e.implUID)},
			{Tag: 0x00020013, VR: "SH", Value: padText("ETHOS")},
		}
	}
	oc, err := e.apply(f.meta, ds, f.slab)
	if err != nil {
		if f.big {
			swapUS(ds)
		}
		return FileResult{}, err
	}
	res := FileResult{Quarantine: oc.Quarantine, Reasons: oc.Reasons, Name: oc.Name, Counts: oc.Counts, Group: oc.Group}
	var pc *pixelCleaner
	if len(oc.PixelRects) > 0 {
		px := ds.Find(tagPixelData)
		switch {
		case px == nil:
		case isEncapsulated(px):
			syn := f.header.Syntax
			if syn.UID != uid.RLELossless {
				res.Quarantine = true
				res.Reasons = append(res.Reasons, encapsulatedReason(syn))
				break
			}
			if pc, err = newPixelCleaner(ds, oc.PixelRects); err == nil {
				err = pc.prepareRLE(px, in, data)
			}
			if err != nil {
				pc = nil
				res.Quarantine = true
				res.Reasons = append(res.Reasons, "clean pixel data: "+err.Error())
			} else {
				res.countPixelClean()
			}
		default:
			if pc, err = newPixelCleaner(ds, oc.PixelRects); err != nil {
				res.Quarantine = true
				res.Reasons = append(res.Reasons, err.Error())
			} else {
				res.countPixelClean()
			}
		}
	}
	if f.big {
		swapUS(ds)
	}
	if res.Quarantine {
		return res, nil
	}
	if err := ctx.Err(); err != nil {
		return FileResult{}, err
	}
	out, err := open(res.Name)
	if err != nil {
		return res, err
	}
	if err := writeCodec(out, in, f, pc, data, outHash, pd); err != nil {
		return res, err
	}
	if pd != nil {
		res.InputPixelSHA256, res.OutputPixelSHA256, err = pd.sums(in, data)
	}
	return res, err
}

// countPixelClean counts the cleaning of the pixel data (unless the
// engine counts nothing).
func (r *FileResult) countPixelClean() {
	if r.Counts != nil {
		r.Counts[tagKey(tagPixelData)] = map[string]int{"clean": 1}
	}
}

// swapUS flips the byte order of the US image attributes the engine
// reads, so they are little endian while it works and big endian again
// before writing.
func swapUS(ds *Dataset) {
	for _, t := range []uint32{tagRows, tagColumns, 0x00280002, 0x00280006, 0x00280100} {
		if e := ds.Find(t); e != nil && len(e.Value) >= 2 && e.VR == "US" {
			v := binary.BigEndian.Uint16(e.Value)
			binary.LittleEndian.PutUint16(e.Value, v)
		}
	}
}

// encapsulatedReason says why compressed pixel data of a syntax other
// than RLE cannot be cleaned.
func encapsulatedReason(syn uid.Syntax) string {
	name := syn.Name
	if name == "" {
		name = "unknown transfer syntax"
	}
	why := "Ethos has no decoder for it"
	switch {
	case strings.HasPrefix(syn.UID, "1.2.840.10008.1.2.4.10"):
		why = "it is video (MPEG/H.264/HEVC), for which Ethos has no codec"
	case strings.HasPrefix(syn.UID, "1.2.840.10008.1.2.4.") && (strings.Contains(name, "Lossy") || !strings.Contains(name, "Lossless")):
		why = "it is lossy: decoding and re-encoding would degrade the whole image, and Ethos has no codec for it"
	case syn.UID == uid.EncapsulatedUncompressedLE:
		why = "fragment-per-frame uncompressed pixel data is not handled yet"
	}
	return "clean pixel data: " + name + " (" + syn.UID + ") pixel data cannot be cleaned: " + why + " (only RLE Lossless is decoded, blanked and re-encoded)"
}

// prepareRLE readies the cleaning of encapsulated RLE pixel data px:
// every frame is decoded, blanked and encoded once here, so that a frame
// that is not valid RLE quarantines the instance before anything is
// written; writeCodec then streams the result.
func (pc *pixelCleaner) prepareRLE(px *Element, in *os.File, data []byte) error {
	src, ok := px.Src.(*dicom.Element)
	if !ok {
		return errors.New("rle: pixel data not read from the file")
	}
	if src.Bulk == nil {
		frags, err := pc.cleanRLEFragments(src.Fragments)
		pc.rleFrags = frags
		return err
	}
	var ra io.ReaderAt
	if data != nil {
		ra = bytes.NewReader(data)
	} else {
		ra = in
	}
	items, err := scanItems(ra, src.Bulk.Offset, src.Bulk.Length)
	if err != nil {
		return err
	}
	pc.rle, pc.rleLen, err = newRLEStream(pc, ra, items)
	return err
}
