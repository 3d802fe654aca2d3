// Command prepare fills an initialised Ethos data directory for the
// processing benchmark: a data steward, a project with collection rules,
// and every DICOM file below a corpus directory stored as a collection
// instance (encrypted under its subject's data key, as ingest stores it).
// The consent gate of ingest is not part of what is measured, so the
// instances are written straight into the store. It prints the user and
// project ids.
//
// Usage: go run ./bench/processing/prepare DATA_DIR CORPUS_DIR
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/collection"
	"github.com/ethos-imaging/ethos/dicom"
	"github.com/ethos-imaging/ethos/dicom/tag"
	"github.com/ethos-imaging/ethos/fileblob"
	"github.com/ethos-imaging/ethos/sqlite"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "prepare:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: prepare DATA_DIR CORPUS_DIR")
	}
	dir, corpus := args[0], args[1]
	ctx := context.Background()
	db := sqlite.NewDB(dir)
	if err := db.Open(ctx); err != nil {
		return err
	}
	defer db.Close()
	ps, _, err := sqlite.NewPartyService(db).FindParties(ctx, ethos.PartyFilter{Limit: 1})
	if err != nil || len(ps) != 1 {
		return fmt.Errorf("no party in %s (run 'ethos init' first): %v", dir, err)
	}
	u := &ethos.User{PartyID: ps[0].ID, Name: "bench steward", Roles: []ethos.Role{ethos.RoleDataSteward}}
	if err := sqlite.NewUserService(db).CreateUser(ctx, u); err != nil {
		return err
	}
	p := &ethos.Project{Name: "processing bench", IntendedUse: "benchmark", Modality: "CT", ClinicalSetting: "bench", PartyID: ps[0].ID}
	if err := sqlite.NewProjectService(db).CreateProject(ctx, p, u.ID); err != nil {
		return err
	}
	instances := sqlite.NewInstanceService(db)
	if err := instances.SetCollectionRules(ctx, &ethos.CollectionRules{ProjectID: p.ID, Purpose: ethos.PurposeResearch, Issuer: "urn:oid:2.999.1"}); err != nil {
		return err
	}
	master, err := fileblob.LoadMasterKey(filepath.Join(dir, "blob-master.key"))
	if errors.Is(err, fs.ErrNotExist) {
		master = fileblob.GenerateMasterKey()
		err = fileblob.WriteMasterKeyFile(filepath.Join(dir, "blob-master.key"), master)
	}
	if err != nil {
		return err
	}
	secret, err := os.ReadFile(filepath.Join(dir, "subject-key.secret"))
	if errors.Is(err, fs.ErrNotExist) {
		k := make([]byte, 32)
		rand.Read(k)
		secret = []byte(hex.EncodeToString(k))
		err = os.WriteFile(filepath.Join(dir, "subject-key.secret"), append(secret, '\n'), 0o600)
	}
	if err != nil {
		return err
	}
	secret = bytes.TrimSpace(secret)
	keys := fileblob.NewFileKeyStore(filepath.Join(dir, "blob-keys.json"))
	if err := keys.Open(); err != nil {
		return err
	}
	defer keys.Close()
	blobs := fileblob.NewStore(filepath.Join(dir, "blobs"), keys, master)
	if err := blobs.Init(); err != nil {
		return err
	}
	n := 0
	err = filepath.WalkDir(corpus, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := dicom.ParseFile(path, dicom.SkipPixelData())
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		pid := strings.TrimSpace(f.Dataset.Text(tag.PatientID))
		subject, err := ethos.DeriveSubjectKey(secret, ethos.PatientIdentifier{Issuer: "urn:oid:2.999.1", Value: pid})
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		ref, err := blobs.Put(ctx, subject, bytes.NewReader(data))
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data) // recorded as ingest records it, as is where the pixel data lies
		px, err := collection.PixelValueOf(data)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		in := &ethos.Instance{ProjectID: p.ID, SOPInstanceUID: strings.Trim(f.Dataset.Text(tag.SOPInstanceUID), " \x00"), Subject: subject,
			Modality: strings.TrimSpace(f.Dataset.Text(tag.Modality)), Status: ethos.InstanceStored, Blob: &ref, Source: "file:bench",
			ReceivedAt: time.Now().UTC(), ReceivedBy: u.ID, Acquired: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), ConsentID: "bench",
			SHA256: hex.EncodeToString(sum[:]), Pixels: px}
		if _, err := instances.CreateInstance(ctx, in); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		n++
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Printf("%s %s %d\n", u.ID, p.ID, n)
	return nil
}
