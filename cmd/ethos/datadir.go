package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/app"
	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/policy"
	"github.com/ethos-imaging/ethos/sqlite"
)

// The data directory (0700) holds:
//
//	ethos.db      the SQLite database (WAL mode; also ethos.db-wal, -shm)
//	audit.key     the audit log's Ed25519 signer key (0600, secret)
//	audit.pub     its verifier key (give it to auditors)
//	config.json   the admin user created by init (the CLI acts as it)
//	lock          held by the process that writes (serve, or one CLI command)
const (
	dbFile     = "ethos.db"
	keyFile    = "audit.key"
	pubFile    = "audit.pub"
	configFile = "config.json"
	lockFile   = "lock"
	defaultDir = "./ethos-data"
)

// config is config.json.
type config struct {
	AdminPartyID string    `json:"admin_party_id"`
	AdminUserID  string    `json:"admin_user_id"`
	LogName      string    `json:"log_name"`
	CreatedAt    time.Time `json:"created_at"`
}

// instance is an opened data directory.
type instance struct {
	dir    string
	db     *sqlite.DB
	store  *sqlite.AuditStorage
	log    *audit.Log
	app    *app.App
	policy *policy.Policy
	cfg    config
	lock   *os.File
}

// dataFlags are the flags every data command shares.
type dataFlags struct {
	dir        *string
	as         *string
	policyFile *string
	allowWider *bool
}

func addDataFlags(fs *flag.FlagSet) dataFlags {
	return dataFlags{
		dir:        fs.String("data", defaultDir, "data directory"),
		as:         fs.String("as", "", "act as this user id (default: the admin created by init)"),
		policyFile: fs.String("policy", "", "access policy override file (JSON; see docs/access.md)"),
		allowWider: fs.Bool("allow-wider-than-framework", false, "accept policy cells more open than the framework's access matrix"),
	}
}

// loadPolicy returns the framework policy, or the override file applied.
func loadPolicy(file string, allowWider bool) (*policy.Policy, error) {
	if file == "" {
		return policy.Default(), nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := policy.Load(f, allowWider)
	if err != nil {
		return nil, ethos.Errorf(ethos.EINVALID, "%s: %v", file, err)
	}
	return p, nil
}

func initialized(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, configFile))
	return err == nil
}

// openInstance opens an initialized data directory, taking its lock.
func openInstance(ctx context.Context, df dataFlags, logger *slog.Logger) (*instance, error) {
	dir := *df.dir
	if !initialized(dir) {
		return nil, ethos.Errorf(ethos.EINVALID, "%s is not an Ethos data directory (run 'ethos init --data %s')", dir, dir)
	}
	pol, err := loadPolicy(*df.policyFile, *df.allowWider)
	if err != nil {
		return nil, err
	}
	in := &instance{dir: dir, policy: pol}
	if err := in.takeLock(); err != nil {
		return nil, err
	}
	if err := in.open(ctx, logger); err != nil {
		in.Close()
		return nil, err
	}
	return in, nil
}

func (in *instance) takeLock() error {
	f, err := os.OpenFile(filepath.Join(in.dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return ethos.Errorf(ethos.ECONFLICT, "data directory %s is in use by another ethos process (a running server?): use the API, or stop it first", in.dir)
		}
		return fmt.Errorf("lock %s: %w", in.dir, err)
	}
	in.lock = f
	return nil
}

func (in *instance) open(ctx context.Context, logger *slog.Logger) error {
	b, err := os.ReadFile(filepath.Join(in.dir, configFile))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &in.cfg); err != nil {
		return fmt.Errorf("%s: %w", configFile, err)
	}
	key, err := os.ReadFile(filepath.Join(in.dir, keyFile))
	if err != nil {
		return err
	}
	pub, err := os.ReadFile(filepath.Join(in.dir, pubFile))
	if err != nil {
		return err
	}
	signer, err := audit.NewSigner(strings.TrimSpace(string(key)))
	if err != nil {
		return err
	}
	in.db = sqlite.NewDB(filepath.Join(in.dir, dbFile))
	if err := in.db.Open(ctx); err != nil {
		return err
	}
	in.store = sqlite.NewAuditStorage(in.db)
	in.log = audit.NewLog(in.store, signer)
	in.log.Logger = logger
	if err := in.log.Open(ctx); err != nil {
		in.log = nil
		return fmt.Errorf("open audit log: %w", err)
	}
	in.app = &app.App{
		Parties: sqlite.NewPartyService(in.db), Users: sqlite.NewUserService(in.db), Tokens: sqlite.NewTokenService(in.db),
		Projects: sqlite.NewProjectService(in.db), Records: sqlite.NewStageRecordService(in.db), DUAs: sqlite.NewDUAService(in.db),
		Decider: in.policy, Log: in.log, Storage: in.store, VerifierKey: strings.TrimSpace(string(pub)),
	}
	return nil
}

// actor returns a context acting as the --as user or the admin.
func (in *instance) actor(ctx context.Context, as string) (context.Context, error) {
	id := as
	if id == "" {
		id = in.cfg.AdminUserID
	}
	u, err := in.app.Users.FindUserByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, ethos.Errorf(ethos.EUNAUTHORIZED, "user %s is disabled", u.ID)
	}
	return ethos.NewContextWithRequestID(ethos.NewContextWithUser(ctx, u), "cli-"+time.Now().UTC().Format("20060102T150405.000000000")), nil
}

// Close flushes the audit log (signing a final checkpoint), closes the
// database and releases the lock.
func (in *instance) Close() error {
	var errs []error
	if in.log != nil {
		errs = append(errs, in.log.Close())
	}
	if in.db != nil {
		errs = append(errs, in.db.Close())
	}
	if in.lock != nil {
		errs = append(errs, in.lock.Close())
	}
	return errors.Join(errs...)
}

// initDir creates a data directory: the database, the audit signing key,
// the administration party and its admin user, and an admin token whose
// secret is returned (only its hash is stored).
func initDir(ctx context.Context, dir, logName string, logger *slog.Logger) (cfg config, secret string, err error) {
	if initialized(dir) {
		return config{}, "", ethos.Errorf(ethos.ECONFLICT, "%s is already initialized", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return config{}, "", err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return config{}, "", err
	}
	in := &instance{dir: dir, policy: policy.Default()}
	if err := in.takeLock(); err != nil {
		return config{}, "", err
	}
	defer func() {
		if cerr := in.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	if logName == "" {
		host, _ := os.Hostname()
		logName = "ethos-audit." + strings.NewReplacer(" ", "-", "+", "-").Replace(host)
	}
	sk, vk, err := audit.GenerateKey(logName)
	if err != nil {
		return config{}, "", err
	}
	if err := writeDataFile(filepath.Join(dir, keyFile), []byte(sk+"\n"), 0o600); err != nil {
		return config{}, "", err
	}
	if err := writeDataFile(filepath.Join(dir, pubFile), []byte(vk+"\n"), 0o644); err != nil {
		return config{}, "", err
	}
	// config.json is written last: until it exists the directory is not
	// initialized and init can be run again.
	cfg = config{LogName: logName, CreatedAt: time.Now().UTC()}
	tmp := filepath.Join(dir, configFile)
	if err := writeDataFile(tmp, []byte(`{}`), 0o600); err != nil {
		return config{}, "", err
	}
	if err := in.open(ctx, logger); err != nil {
		os.Remove(tmp)
		return config{}, "", err
	}
	a := in.app
	sys := ethos.NewContextWithRequestID(ctx, "init")
	party := &ethos.Party{Name: "Ethos administration", Type: ethos.PartyPublic}
	var existing []*ethos.Party
	if existing, _, err = a.Parties.FindParties(sys, ethos.PartyFilter{Name: &party.Name}); err != nil {
		return config{}, "", err
	}
	if len(existing) == 1 {
		party = existing[0] // an earlier init stopped half way
	} else if err := a.Parties.CreateParty(sys, party); err != nil {
		return config{}, "", err
	}
	admin := &ethos.User{PartyID: party.ID, Name: "admin", Roles: []ethos.Role{ethos.RoleAdmin}}
	if err := a.Users.CreateUser(sys, admin); err != nil {
		return config{}, "", err
	}
	actx := ethos.NewContextWithUser(sys, admin)
	for _, e := range []ethos.AuditEvent{
		{Actor: "system", Action: "party.create", Resource: "party/" + party.ID, Reason: "init", RequestID: "init"},
		{Actor: "system", Action: "user.create", Resource: "user/" + admin.ID, Reason: "init: first admin", RequestID: "init"},
	} {
		if err := a.Record(sys, e); err != nil {
			return config{}, "", err
		}
	}
	_, secret, err = a.CreateToken(actx, admin.ID, "created by init", ethos.DefaultTokenTTL)
	if err != nil {
		return config{}, "", err
	}
	cfg.AdminPartyID, cfg.AdminUserID = party.ID, admin.ID
	b, _ := json.MarshalIndent(cfg, "", "  ")
	if err := writeDataFile(tmp, append(b, '\n'), 0o600); err != nil {
		return config{}, "", err
	}
	return cfg, secret, nil
}

// writeFileAtomic writes through a temporary file in the same directory,
// synced and renamed, so readers see the old or the new content.
func writeDataFile(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
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
	return os.Rename(f.Name(), path)
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// quietLogger discards operator logs for one-shot CLI commands.
func quietLogger(env *Env) *slog.Logger {
	return slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
