package dicom_test

import (
	"fmt"
	"io"
	"log"
	"os"

	"github.com/ethos-imaging/ethos/dicom"
	"github.com/ethos-imaging/ethos/dicom/tag"
)

func ExampleParse() {
	f, err := dicom.ParseFile("../../shared/testdata/dicom/pydicom/CT_small.dcm", dicom.SkipPixelData())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Syntax.Name)
	fmt.Println(f.Dataset.Text(tag.Modality), f.Dataset.Get(tag.Rows).Uints(), f.Dataset.CharacterSets())
	px := f.Dataset.Get(tag.PixelData)
	fmt.Println(px.Tag, px.VR, px.Bulk.Length, "bytes left in the file")
	// Output:
	// Explicit VR Little Endian
	// CT [128] [ISO_IR 100]
	// (7FE0,0010) OW 32768 bytes left in the file
}

// Copy a file element by element, pixel data moving from file to file
// without passing through memory.
func ExampleNewReader() {
	src, err := os.Open("in.dcm")
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()
	rd, err := dicom.NewReader(src, dicom.WithBulkThreshold(1<<20))
	if err != nil {
		log.Fatal(err)
	}
	defer rd.Close()
	dst, err := os.Create("out.dcm")
	if err != nil {
		log.Fatal(err)
	}
	defer dst.Close()
	w, err := dicom.NewWriter(dst, &rd.Header)
	if err != nil {
		log.Fatal(err)
	}
	for {
		el, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		if el.Tag == tag.PatientName {
			continue // drop it
		}
		if el.Bulk != nil {
			r, err := rd.BulkReader()
			if err != nil {
				log.Fatal(err)
			}
			err = w.WriteBulk(el, r)
		} else {
			err = w.WriteElement(el)
		}
		if err != nil {
			log.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
}
