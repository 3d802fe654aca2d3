package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos/internal/testenv"
)

func TestDump(t *testing.T) {
	dir := testenv.DICOMDir(t)
	tests := []struct {
		name    string
		args    []string
		wantErr bool
		want    []string
	}{
		{"PrintsNestedUNSequence", []string{"dump", filepath.Join(dir, "pydicom", "UN_sequence.dcm")}, false,
			[]string{"(4453,100C) UN (1 items)", "        (0008,1150) UI [1.2.840.10008.5.1.4.1.1.2]", "    (0020,000D) UI [1.2.840.113619.2.327.3.185221411.476.1398588725.795]"}},
		{"PrintsFragments", []string{"dump", filepath.Join(dir, "pydicom", "JPEG2000.dcm")}, false,
			[]string{"(7FE0,0010) OB (2 fragments) # u/l PixelData"}},
		{"LeavesLargePixelDataInFile", []string{"dump", "--meta=false", filepath.Join(dir, "heudiconv", "b0dwi_mosaic.dcm")}, false,
			[]string{"(7FE0,0010) OW (3693600 bytes at offset 239700)"}},
		{"ErrTruncatedReported", []string{"dump", filepath.Join(dir, "pydicom", "MR_truncated.dcm")}, true,
			[]string{"(0008,0016) UI [1.2.840.10008.5.1.4.1.1.4]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			env := &Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
			err := Run(context.Background(), env, tc.args)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v\n%s", err, tc.wantErr, errb.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if tc.wantErr && !strings.Contains(errb.String(), "(7FE0,0010) at byte 1488") {
				t.Errorf("stderr does not locate the error: %s", errb.String())
			}
		})
	}
	if err := Run(context.Background(), &Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}, []string{"dump"}); err == nil {
		t.Error("dump without files succeeded")
	}
}

func TestDumpEscapesControlBytes(t *testing.T) {
	var out bytes.Buffer
	env := &Env{Stdout: &out, Stderr: &bytes.Buffer{}, Getenv: func(string) string { return "" }}
	if err := Run(context.Background(), env, []string{"dump", filepath.Join(testenv.DICOMDir(t), "pydicom", "chrH31.dcm")}); err != nil {
		t.Fatal(err)
	}
	if bytes.ContainsRune(out.Bytes(), 0x1b) {
		t.Error("an ESC byte reaches the terminal")
	}
	if !strings.Contains(out.String(), `\x1b$B`) {
		t.Errorf("ISO 2022 escape not shown escaped:\n%s", out.String())
	}
}
