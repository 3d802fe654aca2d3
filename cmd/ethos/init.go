package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ethos-imaging/ethos"
)

func runInit(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "init", "init [--data DIR] [--postgres DSN] [--party NAME] [--party-type TYPE] [--admin NAME] [--token-days N] [--json]")
	data := fs.String("data", defaultDataDir, "data directory (created with mode 0700)")
	party := fs.String("party", "Ethos operator", "name of the first party (the operating organisation)")
	ptype := fs.String("party-type", "public", "type of the first party: public, private or third_party")
	admin := fs.String("admin", "admin", "display name of the first administrator")
	days := fs.Int("token-days", 30, "lifetime of the admin token in days")
	pg := fs.String("postgres", "", "store records in this PostgreSQL database instead of SQLite ($ETHOS_POSTGRES)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("init takes no arguments")
	}
	pt, err := ethos.ParsePartyType(*ptype)
	if err != nil {
		return usagef("--party-type: %s", ethos.ErrorMessage(err))
	}
	if *days < 1 || *days > 366 {
		return usagef("--token-days: want 1 to 366")
	}
	a, err := openApp(ctx, *data, pgDSN(env, *pg))
	if err != nil {
		return err
	}
	res, err := a.bootstrap(ctx, *party, pt, *admin, *days)
	if cerr := a.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return printBootstrap(env, res, *asJSON)
}

func printBootstrap(env *Env, res *bootstrapResult, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(env.Stdout).Encode(res)
	}
	fmt.Fprintf(env.Stdout, "Initialised %s\n  party  %s (%s, %s)\n  admin  %s\n  audit verifier key  %s\n\n", res.Data, res.Party.ID, res.Party.Name, res.Party.Type, res.User.ID, res.Key)
	fmt.Fprintf(env.Stdout, "Admin token (shown once, only its hash is stored; expires %s):\n\n  %s\n\n", res.Token.ExpiresAt.Format("2006-01-02"), res.Secret)
	fmt.Fprintf(env.Stdout, "Use it with: export ETHOS_TOKEN=<token>\n")
	return nil
}
