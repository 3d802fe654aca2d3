package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/checks"
	ehttp "github.com/ethos-imaging/ethos/http"
	"github.com/ethos-imaging/ethos/policy"
	"github.com/ethos-imaging/ethos/postgres"
	"github.com/ethos-imaging/ethos/sqlite"
	"github.com/ethos-imaging/ethos/sqlstore"
)

// Files of the data directory besides the database.
const (
	signerKeyFile   = "audit-signer.key" // Ed25519 note signer key, 0600
	verifierKeyFile = "audit-verifier.pub"
	auditKeyName    = "ethos-audit"
	defaultDataDir  = "./ethos-data/"
)

// app is an opened data directory: the database, the services, the audit
// log and its keys.
type app struct {
	dir         string
	closeDB     func() error
	store       *sqlstore.DB // the shared SQL services' handle, either dialect
	parties     ethos.PartyService
	users       ethos.UserService
	tokens      ethos.TokenService
	projects    ethos.ProjectService
	duas        ethos.DUAService
	records     ethos.RecordService
	auditDB     audit.Storage
	log         *audit.Log
	verifierKey string
	auditor     ethos.Auditor
	// logVerifier verifies the audit log for the evidence that needs it
	// (QC-COL-2, compliance's audit-log-verified): one per process, so
	// its incremental state is shared.
	logVerifier *checks.AuditLogVerifier
}

// openStore opens the records store: the SQLite database in dir, or the
// PostgreSQL database pgDSN when it is set (the data directory then holds
// only the audit keys).
func openStore(ctx context.Context, dir, pgDSN string) (*app, error) {
	a := &app{dir: dir}
	if pgDSN != "" {
		if err := sqlite.EnsureDir(dir); err != nil {
			return nil, err
		}
		db := postgres.NewDB(pgDSN)
		if err := db.Open(ctx); err != nil {
			return nil, err
		}
		a.closeDB, a.store, a.auditDB = db.Close, db.Store(), postgres.NewAuditStorage(db)
	} else {
		db := sqlite.NewDB(dir)
		if err := db.Open(ctx); err != nil {
			return nil, err
		}
		a.closeDB, a.store, a.auditDB = db.Close, db.Store(), sqlite.NewAuditStorage(db)
	}
	// The services' SQL is the same for both databases (package sqlstore).
	a.parties, a.users, a.tokens = sqlstore.NewPartyService(a.store), sqlstore.NewUserService(a.store), sqlstore.NewTokenService(a.store)
	a.projects, a.duas, a.records = sqlstore.NewProjectService(a.store), sqlstore.NewDUAService(a.store), sqlstore.NewRecordService(a.store)
	return a, nil
}

// openApp opens (creating when needed) the data directory dir and the
// store, and opens the audit log.
func openApp(ctx context.Context, dir, pgDSN string) (*app, error) {
	a, err := openStore(ctx, dir, pgDSN)
	if err != nil {
		return nil, err
	}
	signerKey, verifierKey, err := loadOrCreateKeys(dir)
	if err != nil {
		a.closeDB()
		return nil, err
	}
	signer, err := audit.NewSigner(signerKey)
	if err != nil {
		a.closeDB()
		return nil, fmt.Errorf("audit signer key: %w", err)
	}
	a.verifierKey = verifierKey
	a.logVerifier = checks.NewAuditLogVerifier(a.auditDB, verifierKey)
	a.log = audit.NewLog(a.auditDB, signer)
	a.log.CheckpointInterval = time.Minute
	if err := a.log.Open(ctx); err != nil {
		a.closeDB()
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	a.auditor = ehttp.LogAuditor{Log: a.log}
	return a, nil
}

// Close flushes the audit log (signing a final checkpoint) and closes the
// database.
func (a *app) Close() error {
	err := a.log.Close()
	return errors.Join(err, a.closeDB())
}

// loadOrCreateKeys reads the audit keys of dir, generating them on first
// use. The signer key is written atomically with mode 0600.
func loadOrCreateKeys(dir string) (signer, verifier string, err error) {
	sp, vp := filepath.Join(dir, signerKeyFile), filepath.Join(dir, verifierKeyFile)
	sb, serr := os.ReadFile(sp)
	vb, verr := os.ReadFile(vp)
	if serr == nil && verr == nil {
		return strings.TrimSpace(string(sb)), strings.TrimSpace(string(vb)), nil
	}
	if !errors.Is(serr, fs.ErrNotExist) || !errors.Is(verr, fs.ErrNotExist) {
		return "", "", fmt.Errorf("audit keys in %s: one of %s and %s is missing or unreadable (%v; %v)", dir, signerKeyFile, verifierKeyFile, serr, verr)
	}
	signer, verifier, err = audit.GenerateKey(auditKeyName)
	if err != nil {
		return "", "", err
	}
	if err := writeAtomic(sp, []byte(signer+"\n"), 0o600); err != nil {
		return "", "", err
	}
	if err := writeAtomic(vp, []byte(verifier+"\n"), 0o644); err != nil {
		return "", "", err
	}
	return signer, verifier, nil
}

// writeAtomic writes data to path through a temporary file in the same
// directory: Sync, then Rename, so a crash leaves the old file or the new
// one, never half of one.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	if special(path) {
		return writeSpecial(path, func(w io.Writer) error { _, err := w.Write(data); return err })
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// bootstrap creates the first party, an admin user and the admin's token,
// recording each in the audit log as done by "system". It refuses a data
// directory that already has parties.
type bootstrapResult struct {
	Party  *ethos.Party `json:"party"`
	User   *ethos.User  `json:"user"`
	Token  *ethos.Token `json:"token"`
	Secret string       `json:"secret"`
	Data   string       `json:"data_dir"`
	Key    string       `json:"audit_verifier_key"`
}

func (a *app) initialised(ctx context.Context) (bool, error) {
	_, n, err := a.parties.FindParties(ctx, ethos.PartyFilter{Limit: 1})
	return n > 0, err
}

func (a *app) bootstrap(ctx context.Context, partyName string, partyType ethos.PartyType, adminName string, tokenDays int) (*bootstrapResult, error) {
	ok, err := a.initialised(ctx)
	if err != nil {
		return nil, err
	}
	if ok {
		return nil, ethos.Errorf(ethos.ECONFLICT, "%s is already initialised (it has parties); create more tokens with 'ethos token create'", a.dir)
	}
	rec := func(action, resource, reason string) error {
		return a.auditor.Record(ctx, ethos.AuditEvent{Actor: "system", Action: action, Resource: resource, Reason: reason, RequestID: "init"})
	}
	p := &ethos.Party{Name: partyName, Type: partyType}
	if err := a.parties.CreateParty(ctx, p); err != nil {
		return nil, err
	}
	if err := rec("party.create", "party/"+p.ID, "type "+string(p.Type)+" (initial party)"); err != nil {
		return nil, err
	}
	u := &ethos.User{PartyID: p.ID, Name: adminName, Roles: []ethos.Role{ethos.RoleAdmin}}
	if err := a.users.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	if err := rec("user.create", "user/"+u.ID, "roles admin (initial administrator)"); err != nil {
		return nil, err
	}
	secret, hash := ethos.NewTokenSecret()
	t := &ethos.Token{UserID: u.ID, Name: "initial admin token", Hash: hash, ExpiresAt: time.Now().Add(time.Duration(tokenDays) * 24 * time.Hour)}
	if err := a.tokens.CreateToken(ctx, t); err != nil {
		return nil, err
	}
	if err := rec("token.create", "token/"+t.ID, "for user "+u.ID+" (initial admin token)"); err != nil {
		return nil, err
	}
	if _, err := a.log.Checkpoint(ctx); err != nil {
		return nil, err
	}
	return &bootstrapResult{Party: p, User: u, Token: t, Secret: secret, Data: a.dir, Key: a.verifierKey}, nil
}

// loadPolicy returns the framework policy, or the policy with the
// overrides of file.
func loadPolicy(file string, allowWider bool) (*policy.Policy, error) {
	if file == "" {
		return policy.Default(), nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, ethos.Errorf(ethos.EINVALID, "policy file: %v", err)
	}
	defer f.Close()
	p, err := policy.Load(f, policy.LoadOptions{AllowWider: allowWider})
	if err != nil {
		return nil, ethos.Errorf(ethos.EINVALID, "%s: %v", file, err)
	}
	return p, nil
}
