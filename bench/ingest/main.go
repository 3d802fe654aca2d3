// Command ingest-bench prepares and drives the ingest benchmark
// (bench/ingest/run.sh, docs/benchmarks-ingest.md):
//
//	ingest-bench setup -data DIR            add a data steward, a token and a project to an initialised data directory; print them as JSON
//	ingest-bench consents -n N -issuer I    print a FHIR Bundle of research consents for the patients BENCH0000000…
//	ingest-bench stow -server URL -project P [-parts K] [-workers W] DIR
//	                                        send every file under DIR by DICOMweb STOW-RS, K instances per request, W requests at a time; print the throughput
//
// The token of "stow" comes from $ETHOS_TOKEN.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/sqlite"
)

func main() {
	log.SetFlags(0)
	if len(os.Args) < 2 {
		log.Fatal("usage: ingest-bench setup|consents|stow [flags]")
	}
	var err error
	switch os.Args[1] {
	case "setup":
		err = setup(os.Args[2:])
	case "consents":
		err = consents(os.Args[2:])
	case "stow":
		err = stow(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		log.Fatal(err)
	}
}

// setup writes straight into the store of a data directory made by
// "ethos init" (no server may run on it).
func setup(args []string) error {
	fs := flag.NewFlagSet("setup", flag.ExitOnError)
	data := fs.String("data", "", "data directory")
	fs.Parse(args)
	ctx := context.Background()
	db := sqlite.NewDB(*data)
	if err := db.Open(ctx); err != nil {
		return err
	}
	defer db.Close()
	ps, _, err := sqlite.NewPartyService(db).FindParties(ctx, ethos.PartyFilter{Limit: 1})
	if err != nil || len(ps) == 0 {
		return fmt.Errorf("no party in %s (run ethos init): %v", *data, err)
	}
	u := &ethos.User{PartyID: ps[0].ID, Name: "bench steward", Roles: []ethos.Role{ethos.RoleDataSteward}}
	if err := sqlite.NewUserService(db).CreateUser(ctx, u); err != nil {
		return err
	}
	secret, hash := ethos.NewTokenSecret()
	if err := sqlite.NewTokenService(db).CreateToken(ctx, &ethos.Token{UserID: u.ID, Name: "bench", Hash: hash, ExpiresAt: time.Now().Add(24 * time.Hour)}); err != nil {
		return err
	}
	p := &ethos.Project{Name: "Ingest benchmark", IntendedUse: "benchmark", Modality: "CT", ClinicalSetting: "radiology", PartyID: ps[0].ID}
	if err := sqlite.NewProjectService(db).CreateProject(ctx, p, u.ID); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]string{"user": u.ID, "token": secret, "project": p.ID})
}

func consents(args []string) error {
	fs := flag.NewFlagSet("consents", flag.ExitOnError)
	n := fs.Int("n", 1000, "patients")
	issuer := fs.String("issuer", "urn:oid:2.999.4711.1", "issuer of the patient ids")
	fs.Parse(args)
	var sb strings.Builder
	sb.WriteString(`{"resourceType": "Bundle", "type": "collection", "entry": [`)
	for i := range *n {
		if i > 0 {
			sb.WriteString(",\n")
		}
		fmt.Fprintf(&sb, `{"resource": {"resourceType": "Consent", "id": "bench-%d", "status": "active",
 "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "research"}]},
 "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
 "patient": {"identifier": {"system": %q, "value": "BENCH%07d"}}, "dateTime": "2000-01-01T00:00:00Z",
 "policy": [{"uri": "https://irb.example.org/protocols/BENCH"}],
 "provision": {"type": "permit", "period": {"start": "1900-01-01"},
  "purpose": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HRESCH"}]}}}`, i, *issuer, i)
	}
	sb.WriteString("]}\n")
	_, err := os.Stdout.WriteString(sb.String())
	return err
}

func stow(args []string) error {
	flags := flag.NewFlagSet("stow", flag.ExitOnError)
	server := flags.String("server", "http://127.0.0.1:8080", "server URL")
	project := flags.String("project", "", "project")
	parts := flags.Int("parts", 20, "instances per request")
	workers := flags.Int("workers", 2, "requests at a time")
	flags.Parse(args)
	token := os.Getenv("ETHOS_TOKEN")
	if flags.NArg() != 1 || *project == "" || token == "" {
		return fmt.Errorf("stow needs -project, $ETHOS_TOKEN and one directory")
	}
	var files []string
	err := filepath.WalkDir(flags.Arg(0), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		return err
	}
	batches := make(chan []string)
	go func() {
		for i := 0; i < len(files); i += *parts {
			batches <- files[i:min(i+*parts, len(files))]
		}
		close(batches)
	}()
	var sent, stored, failed atomic.Int64
	var firstErr error
	var mu sync.Mutex
	hc := &http.Client{Timeout: 10 * time.Minute}
	start := time.Now()
	var wg sync.WaitGroup
	for range *workers {
		wg.Go(func() {
			for b := range batches {
				n, s, f, err := post(hc, *server, token, *project, b)
				sent.Add(n)
				stored.Add(s)
				failed.Add(f)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	if firstErr != nil {
		return firstErr
	}
	fmt.Printf("stow: %d files, %.1f MB in %.2f s: %.1f files/s, %.1f MB/s (%d stored, %d refused; %d per request, %d workers)\n",
		len(files), float64(sent.Load())/1e6, el.Seconds(), float64(len(files))/el.Seconds(), float64(sent.Load())/1e6/el.Seconds(), stored.Load(), failed.Load(), *parts, *workers)
	return nil
}

// post sends one STOW-RS request; it returns the bytes sent and the
// instances stored and refused.
func post(hc *http.Client, server, token, project string, files []string) (int64, int64, int64, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	var n int64
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return 0, 0, 0, err
		}
		pw, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/dicom"}})
		if err != nil {
			return 0, 0, 0, err
		}
		pw.Write(b)
		n += int64(len(b))
	}
	mw.Close()
	req, err := http.NewRequest("POST", server+"/dicomweb/studies?project="+project, &body)
	if err != nil {
		return 0, 0, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", `multipart/related; type="application/dicom"; boundary=`+mw.Boundary())
	resp, err := hc.Do(req)
	if err != nil {
		return n, 0, 0, err
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 && resp.StatusCode != 202 && resp.StatusCode != 409 {
		return n, 0, 0, fmt.Errorf("STOW-RS: %s: %s", resp.Status, rb)
	}
	var out map[string]struct {
		Value []json.RawMessage `json:"Value"`
	}
	if err := json.Unmarshal(rb, &out); err != nil {
		return n, 0, 0, fmt.Errorf("STOW-RS reply: %v", err)
	}
	return n, int64(len(out["00081199"].Value)), int64(len(out["00081198"].Value)), nil
}
