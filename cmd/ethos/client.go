package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ethos-imaging/ethos"
)

// The data commands (party, user, token, project, dua, access check and
// review, audit checkpoint and proof) are clients of a running server: they
// go through the same authentication, access policy and audit log as any
// other API call, and the CLI holds no privilege of its own. The offline
// audit commands (verify, export) read the data directory directly and
// write nothing.

// client talks to an Ethos server.
type client struct {
	base  string
	token string
	hc    *http.Client
}

// clientFlags adds --server and --token to fs.
func clientFlags(env *Env, fs *flag.FlagSet) func() (*client, error) {
	def := env.Getenv("ETHOS_SERVER")
	if def == "" {
		def = "http://127.0.0.1:8080"
	}
	server := fs.String("server", def, "server URL ($ETHOS_SERVER)")
	token := fs.String("token", "", "API token (default $ETHOS_TOKEN; prefer the variable: flags show in ps)")
	return func() (*client, error) {
		t := *token
		if t == "" {
			t = env.Getenv("ETHOS_TOKEN")
		}
		if t == "" {
			return nil, usagef("no token: set ETHOS_TOKEN or pass --token")
		}
		if !strings.HasPrefix(*server, "http://") && !strings.HasPrefix(*server, "https://") {
			return nil, usagef("--server: want an http:// or https:// URL")
		}
		return &client{base: strings.TrimRight(*server, "/"), token: t, hc: &http.Client{Timeout: 60 * time.Second}}, nil
	}
}

// do sends a request (in as JSON, when not nil) and decodes a JSON reply
// into out (or copies the raw body when out is an io.Writer). An error
// reply becomes an *ethos.Error.
func (c *client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	ctype := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, ctype = bytes.NewReader(b), "application/json"
	}
	resp, err := c.request(ctx, method, path, ctype, body, false)
	if err != nil {
		return err
	}
	return readReply(resp, out)
}

// request sends a request with the client's token and, when ctype is not
// empty, that content type. untimed drops the client's overall timeout
// for a large upload or download (ctx still ends it). The caller closes
// the reply's body.
func (c *client) request(ctx context.Context, method, path, ctype string, body io.Reader, untimed bool) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	hc := c.hc
	if untimed {
		cp := *c.hc
		cp.Timeout = 0
		hc = &cp
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, ethos.Errorf(ethos.EINTERNAL, "cannot reach the server at %s: %v", c.base, unwrapURL(err))
	}
	return resp, nil
}

// readReply closes resp after reading it: an error status becomes an
// *ethos.Error (replyError); otherwise the JSON body is decoded into out,
// copied to out when it is an io.Writer, or dropped when out is nil.
func readReply(resp *http.Response, out any) error {
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return replyError(resp)
	}
	switch o := out.(type) {
	case nil:
		return nil
	case io.Writer:
		_, err := io.Copy(o, resp.Body)
		return err
	default:
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return fmt.Errorf("decode server reply: %w", err)
		}
		return nil
	}
}

// replyError reads the error reply resp (at most 64 KiB of it) as an
// *ethos.Error; a reply that is not a JSON error says the status.
func replyError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err := errorReply(b); err != nil {
		return err
	}
	return ethos.Errorf(ethos.EINTERNAL, "server answered %s", resp.Status)
}

// errorReply decodes the server's JSON error object ({"error": code,
// "message": text}) as an *ethos.Error; nil when b is not one. The one
// place the CLI reads the server's errors.
func errorReply(b []byte) error {
	var e struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &e) != nil || e.Error == "" {
		return nil
	}
	if e.Message == "" {
		e.Message = "the server answered " + e.Error
	}
	return ethos.Errorf(e.Error, "%s", e.Message)
}

func unwrapURL(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		if _, isOp := err.(interface{ Timeout() bool }); isOp {
			return err
		}
		err = u.Unwrap()
	}
}

// printJSON writes v indented.
func printJSON(env *Env, v any) error {
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table prints rows under a header.
func table(env *Env, header string, rows [][]string) error {
	tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

// subcommand dispatches "ethos NAME VERB …" to one of verbs.
func subcommand(ctx context.Context, env *Env, name string, args []string, verbs map[string]func(context.Context, *Env, []string) error, order []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(env.Stderr, "Usage: ethos %s <%s> [flags]\nRun 'ethos %s <verb> --help' for the flags of each.\n", name, strings.Join(order, "|"), name)
		if len(args) == 0 {
			return usagef("%s: missing verb (%s)", name, strings.Join(order, ", "))
		}
		return flag.ErrHelp
	}
	v, ok := verbs[args[0]]
	if !ok {
		return usagef("%s: unknown verb %q (want %s)", name, args[0], strings.Join(order, ", "))
	}
	return v(ctx, env, args[1:])
}

// splitList splits a comma-separated flag value.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseArgs parses flags that may come before or after the positional
// arguments ("token revoke ID --json"), returning the positional ones.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// listed is the reply of a list endpoint.
type listed[T any] struct {
	Items []T `json:"items"`
	Total int `json:"total"`
}

// printList fetches a list endpoint (query q; a limit of 1000 unless q
// sets one) and prints it as JSON or as a table: header names the
// tab-separated columns and row renders one item.
func printList[T any](ctx context.Context, env *Env, c *client, path string, q url.Values, asJSON bool, header string, row func(T) []string) error {
	if q == nil {
		q = url.Values{}
	}
	if q.Get("limit") == "" {
		q.Set("limit", "1000")
	}
	var out listed[T]
	if err := c.do(ctx, "GET", path+"?"+q.Encode(), nil, &out); err != nil {
		return err
	}
	if asJSON {
		return printJSON(env, out)
	}
	rows := make([][]string, 0, len(out.Items))
	for _, it := range out.Items {
		rows = append(rows, row(it))
	}
	return table(env, header, rows)
}

// setIf sets key in q when v is not empty.
func setIf(q url.Values, key, v string) url.Values {
	if v != "" {
		q.Set(key, v)
	}
	return q
}
