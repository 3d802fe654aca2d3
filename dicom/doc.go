// Package dicom reads and writes DICOM Part 10 files and bare data sets
// (PS3.10, encoded per PS3.5) with the standard library only.
//
// Reading:
//
//	f, err := dicom.Parse(r)                     // whole file in memory
//	f, err := dicom.Parse(r, dicom.SkipPixelData())
//	name := f.Dataset.Text(tag.PatientName)      // decoded to UTF-8
//
//	rd, err := dicom.NewReader(file, dicom.WithBulkThreshold(1<<20))
//	for {
//		el, err := rd.Next()                     // one top-level element
//		if err == io.EOF { break }
//		if el.Bulk != nil {                      // large value left in file
//			src, _ := rd.BulkReader()
//			err = w.WriteBulk(el, src)           // copy_file_range between files
//			continue
//		}
//		err = w.WriteElement(el)
//	}
//
// Writing: Write(w, f), WriteFile(path, f, perm) (atomic), or a streaming
// Writer from NewWriter(w, &header).
//
// An Element keeps its value as the raw bytes read (Value), the items of a
// sequence (Items, each an Item holding a Dataset) or the fragments of
// encapsulated pixel data (Fragments, never decoded), with the byte offset
// where it was read. Datasets keep elements in the order read; lengths,
// defined or undefined forms, padding, odd lengths, the preamble and the
// meta group are kept, so a file read and written without change comes out
// byte for byte as it went in.
//
// Transfer syntaxes: implicit VR little endian, explicit VR little endian,
// explicit VR big endian, deflated explicit VR little endian, and every
// encapsulated syntax (JPEG, JPEG-LS, JPEG 2000, HTJ2K, RLE, MPEG, unknown
// ones: read as explicit VR little endian with fragments). VR UN of
// undefined length is read as a sequence in implicit VR little endian;
// UN or unknown private elements of defined length whose value parses as
// items are read as sequences too (and stay bytes otherwise).
//
// Errors are *Error values carrying the tag and byte offset and wrapping a
// sentinel (ErrTruncated, ErrBadLength, ErrBadVR, ErrTooDeep, …); they never
// contain element values. Allocation follows the input: a length past the
// end of input is an error before anything is allocated when the size is
// known, and values grow in chunks as bytes arrive otherwise.
package dicom
