package main

import (
	"bytes"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUISessionKey(t *testing.T) {
	t.Run("CreatedOnceWithMode0600", func(t *testing.T) {
		dir := t.TempDir()
		k1, err := uiSessionKey(dir)
		if err != nil || len(k1) != 32 {
			t.Fatalf("%d bytes, %v", len(k1), err)
		}
		fi, err := os.Stat(filepath.Join(dir, uiKeyFile))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("key file mode %v, %v", fi.Mode().Perm(), err)
		}
		k2, err := uiSessionKey(dir)
		if err != nil || !bytes.Equal(k1, k2) {
			t.Fatalf("second read: %v, same key %v", err, bytes.Equal(k1, k2))
		}
	})
	for _, tc := range []struct {
		name, content string
		mode          os.FileMode
		want          string
	}{
		{"ErrReadableByOthers", strings.Repeat("ab", 32), 0o644, "readable by others"},
		{"ErrShort", strings.Repeat("ab", 16), 0o600, "at least 32 bytes"},
		{"ErrNotHex", strings.Repeat("zz", 32), 0o600, "at least 32 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, uiKeyFile)
			if err := os.WriteFile(p, []byte(tc.content), tc.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(p, tc.mode)
			if _, err := uiSessionKey(dir); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

// TestServeUI signs in to the UI of "ethos serve" with the admin token
// from init.
func TestServeUI(t *testing.T) {
	dir, token := initData(t)
	base := serveInProcess(t, dir)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(base+"/ui/signin", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/ui/" {
		t.Fatalf("sign-in ended at %s with %d", resp.Request.URL.Path, resp.StatusCode)
	}
	u, _ := url.Parse(base + "/ui/")
	if cs := jar.Cookies(u); len(cs) == 0 || strings.Contains(cs[0].Value, token) {
		t.Fatalf("session cookie %v", cs)
	}
	if fi, err := os.Stat(filepath.Join(dir, uiKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("UI key file: %v", err)
	}
}
