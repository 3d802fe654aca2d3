package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ethos-imaging/ethos"
)

// subcommand is one verb of a command such as "token create".
type subcommand struct {
	name, summary string
	run           func(ctx context.Context, env *Env, args []string) error
}

// dispatch runs the verb named by args[0].
func dispatch(ctx context.Context, env *Env, cmd string, subs []subcommand, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		w := env.Stderr
		if len(args) > 0 {
			w = env.Stdout
		}
		fmt.Fprintf(w, "Usage: ethos %s <verb> [flags]\n\nVerbs:\n", cmd)
		for _, s := range subs {
			fmt.Fprintf(w, "  %-14s %s\n", s.name, s.summary)
		}
		fmt.Fprintf(w, "\nRun 'ethos %s <verb> --help' for its flags.\n", cmd)
		if len(args) == 0 {
			return usagef("%s: missing verb", cmd)
		}
		return nil
	}
	for _, s := range subs {
		if s.name == args[0] {
			return s.run(ctx, env, args[1:])
		}
	}
	return usagef("%s: unknown verb %q", cmd, args[0])
}

// withData opens the data directory, acts as --as (or the admin), runs
// fn and closes (flushing the audit log).
func withData(ctx context.Context, env *Env, df dataFlags, fn func(ctx context.Context, in *instance) error) (err error) {
	in, err := openInstance(ctx, df, quietLogger(env))
	if err != nil {
		return err
	}
	defer func() {
		if cerr := in.Close(); err == nil {
			err = cerr
		}
	}()
	actx, err := in.actor(ctx, *df.as)
	if err != nil {
		return err
	}
	return fn(actx, in)
}

// table prints rows with aligned columns.
func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func fmtTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func noArgs(fs interface{ NArg() int }, name string) error {
	if fs.NArg() > 0 {
		return usagef("%s takes no positional arguments", name)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// userOf returns the id of the acting user.
func userOf(ctx context.Context) string { return ethos.ActorID(ctx) }

// parseFlagsAnywhere parses flags that may come before or after the
// positional arguments ("token revoke ID --data DIR") and returns the
// positional ones. "--" ends the flags.
func parseFlagsAnywhere(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// oneArgAnywhere parses flags anywhere and wants one positional argument.
func oneArgAnywhere(fs *flag.FlagSet, args []string, name, what string) (string, error) {
	pos, err := parseFlagsAnywhere(fs, args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		return "", usagef("%s needs exactly one %s", name, what)
	}
	return pos[0], nil
}
