package deployment_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/deployment"
)

// FuzzParseMatrix checks that any input either fails with a coded invalid
// error or gives a valid matrix that survives format → parse unchanged.
func FuzzParseMatrix(f *testing.F) {
	var b bytes.Buffer
	if err := deployment.FormatMatrix(&b, deployment.DefaultMatrix()); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Add([]byte(`{"severity":["a","b","c","d","e"],"probability":["1","2","3","4","5"],"grid":["AAAAA","AAAAL","AALLU","ALLUU","LUUUU"]}`))
	f.Add([]byte(`{"grid":["AAAAA"]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := deployment.ParseMatrix(bytes.NewReader(data))
		if err != nil {
			if ethos.ErrorCode(err) != ethos.EINVALID {
				t.Fatalf("error %v has code %q, want invalid", err, ethos.ErrorCode(err))
			}
			return
		}
		if err := deployment.ValidateMatrix(m); err != nil {
			t.Fatalf("parsed matrix invalid: %v", err)
		}
		var out strings.Builder
		if err := deployment.FormatMatrix(&out, m); err != nil {
			t.Fatal(err)
		}
		m2, err := deployment.ParseMatrix(strings.NewReader(out.String()))
		if err != nil || m2 != m {
			t.Fatalf("round trip: %v\n%s", err, out.String())
		}
	})
}
