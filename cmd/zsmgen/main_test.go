package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zsm-dev/zsm/internal/linger"
	"github.com/zsm-dev/zsm/internal/snapshot"
	"github.com/zsm-dev/zsm/internal/version"
)

const twoSites = `site "blog" {
  listen  = ["127.0.0.1:8080", "unix:blog.sock"]
  command = ["./blog"]
}
site "shop" {
  listen  = ["127.0.0.1:8081"]
  command = ["./shop"]
}
`

// zsmgen runs the command and returns its exit code and outputs.
func zsmgen(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func writeConfig(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "site.hcl")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// tree lists the files under dir with their contents.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			files[rel] = string(b)
		}
		return nil
	})
	return files
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, twoSites)
	code, out, errOut := zsmgen(t, "check", cfg)
	if code != 0 || errOut != "" || !strings.Contains(out, "2 sites ok: blog (handoff, 2 addresses), shop (handoff, 1 address)") {
		t.Errorf("check of a good file: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}

	bad := writeConfig(t, dir, "site \"a\" {\n  listen = [\"localhost:80\"]\n  command = [\"x\"]\n  bogus = 1\n}\n")
	code, out, errOut = zsmgen(t, "check", bad)
	if code != 1 || out != "" {
		t.Errorf("check of a bad file: exit %d, stdout %q", code, out)
	}
	for _, want := range []string{bad + ":2:13: Invalid address", bad + ":4:3: Unsupported argument", "  bogus = 1", "2 problems in " + bad} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}

	if code, _, _ := zsmgen(t, "check"); code != 2 {
		t.Errorf("check without a file: exit %d, want 2", code)
	}
	if code, _, errOut := zsmgen(t, "check", filepath.Join(dir, "missing.hcl")); code != 1 || !strings.Contains(errOut, "no such file") {
		t.Errorf("check of a missing file: exit %d, %q", code, errOut)
	}
}

// TestCheckWarning: a status page on an address other hosts reach,
// without public = true, is a warning naming where it is written; the
// file still passes.
func TestCheckWarning(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `site "blog" {
  listen  = ["127.0.0.1:8080"]
  command = ["./blog"]
  status { listen = ":18090" }
}
site "shop" {
  listen  = ["127.0.0.1:8081"]
  command = ["./shop"]
  status {
    listen = ":18091"
    public = true
  }
}
`)
	code, out, errOut := zsmgen(t, "check", cfg)
	if code != 0 || !strings.Contains(out, "2 sites ok") {
		t.Errorf("check: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	want := cfg + `:4:21: WARNING: Status page not served: ":18090" is reachable from other hosts, and the status page of site "blog" ` +
		`shows its commands, pids and errors: the broker does not serve it there. Listen on "127.0.0.1:18090" or a unix socket, ` +
		`or set public = true in the status block to serve it on ":18090" anyway.
1 warning in ` + cfg + "\n"
	if errOut != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", errOut, want)
	}

	// The other commands that read the file warn too.
	code, _, errOut = zsmgen(t, "units", "--dry-run", "--zsm", "/bin/true", "--out", t.TempDir(), cfg)
	if code != 0 || errOut != want {
		t.Errorf("units: exit %d, stderr:\n%s", code, errOut)
	}

	// Without the warning, nothing on stderr.
	writeConfig(t, dir, strings.Replace(twoSites, "command = [\"./blog\"]", "command = [\"./blog\"]\n  status { listen = \"127.0.0.1:18090\" }", 1))
	if code, _, errOut := zsmgen(t, "check", cfg); code != 0 || errOut != "" {
		t.Errorf("a loopback status page: exit %d, stderr %q", code, errOut)
	}
}

// TestCheckLimits: a file past one of the limits gets one clear problem,
// where the limit is exceeded, and exit 1.
func TestCheckLimits(t *testing.T) {
	value := func(v string) string {
		return "site \"a\" {\n  listen  = [\"127.0.0.1:1\"]\n  command = [" + v + "]\n}\n"
	}
	tests := []struct {
		name, body, want string
	}{
		{"100,000 nested (", value(strings.Repeat("(", 100_000) + "1" + strings.Repeat(")", 100_000)), ":3:76: Nesting too deep"},
		{"100,000 nested ${", value(strings.Repeat(`"${`, 100_000)), ":3:107: Nesting too deep"},
		{"2 MB file", value(`"` + strings.Repeat("x", 2<<20) + `"`), ":3:1048538: File too large"},
		{"a huge exponent", value("1e100000000"), ":3:14: Number too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := writeConfig(t, t.TempDir(), tt.body)
			code, out, errOut := zsmgen(t, "check", cfg)
			if code != 1 || out != "" {
				t.Errorf("exit %d, stdout %q", code, out)
			}
			if !strings.HasPrefix(errOut, cfg+tt.want) || !strings.HasSuffix(errOut, "\n1 problem in "+cfg+"\n") {
				t.Errorf("stderr does not start with %q and end with the count:\n%.600s", cfg+tt.want, errOut)
			}
			if len(errOut) > 2000 {
				t.Errorf("%d bytes of stderr", len(errOut))
			}
		})
	}
}

func TestUnits(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	cfg := writeConfig(t, dir, twoSites)
	zsm := filepath.Join(dir, "zsm")
	os.WriteFile(zsm, []byte("#!/bin/sh\n"), 0o755)
	units := func(args ...string) (int, string, string) {
		return zsmgen(t, append([]string{"units", "--zsm", zsm, "--out", out}, append(args, cfg)...)...)
	}

	// A file zsmgen did not write, in the unit dir and in a drop-in dir.
	foreign := map[string]string{
		"zsm@blog.service.d/override.conf": "[Service]\nEnvironment=MINE=1\n",
		"other.service":                    "[Service]\nExecStart=/bin/true\n",
	}
	for p, body := range foreign {
		os.MkdirAll(filepath.Dir(filepath.Join(out, p)), 0o755)
		os.WriteFile(filepath.Join(out, p), []byte(body), 0o644)
	}

	// --dry-run writes nothing.
	if code, stdout, _ := units("--dry-run"); code != 0 || !strings.Contains(stdout, "would write "+filepath.Join(out, "zsm@.socket")) {
		t.Fatalf("dry run: exit %d\n%s", code, stdout)
	}
	if got := tree(t, out); len(got) != len(foreign) {
		t.Fatalf("dry run wrote files: %v", got)
	}

	code, stdout, stderr := units()
	if code != 0 {
		t.Fatalf("units: exit %d\n%s%s", code, stdout, stderr)
	}
	first := tree(t, out)
	for _, want := range []string{"zsm@.socket", "zsm@.service", "zsm@blog.socket.d/zsmgen.conf", "zsm@blog.service.d/zsmgen.conf",
		"zsm@shop.socket.d/zsmgen.conf", "zsm@shop.service.d/zsmgen.conf"} {
		if _, ok := first[want]; !ok {
			t.Errorf("%s not written; have %v", want, first)
		}
	}
	if !strings.Contains(first["zsm@blog.socket.d/zsmgen.conf"], "ListenStream=%t/blog.sock") {
		t.Errorf("blog's socket drop-in:\n%s", first["zsm@blog.socket.d/zsmgen.conf"])
	}
	if !strings.Contains(stdout, "systemctl --user daemon-reload") {
		t.Errorf("no daemon-reload hint:\n%s", stdout)
	}

	// Idempotent: a second run changes nothing and says so.
	code, stdout, _ = units()
	if code != 0 || !strings.Contains(stdout, "is up to date") || strings.Contains(stdout, "wrote") {
		t.Errorf("second run: exit %d\n%s", code, stdout)
	}

	// A site leaves the file: its drop-ins go, the foreign ones stay.
	writeConfig(t, dir, strings.Split(twoSites, "site \"shop\"")[0])
	code, stdout, _ = units()
	if code != 0 || !strings.Contains(stdout, "systemctl --user disable --now zsm@shop.socket") {
		t.Errorf("after removing shop: exit %d\n%s", code, stdout)
	}
	after := tree(t, out)
	for p := range after {
		if strings.HasPrefix(p, "zsm@shop") {
			t.Errorf("%s left behind", p)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "zsm@shop.socket.d")); !os.IsNotExist(err) {
		t.Errorf("empty drop-in directory left: %v", err)
	}
	for p, body := range foreign {
		if after[p] != body {
			t.Errorf("foreign file %s changed: %q", p, after[p])
		}
	}

	// A foreign file where zsmgen would write: refused, nothing changed.
	os.WriteFile(filepath.Join(out, "zsm@blog.socket.d", "zsmgen.conf"), []byte("[Socket]\nListenStream=9999\n"), 0o644)
	before := tree(t, out)
	if code, _, stderr := units(); code != 1 || !strings.Contains(stderr, "zsm@blog.socket.d/zsmgen.conf") {
		t.Errorf("collision with a foreign file: exit %d\n%s", code, stderr)
	}
	if got := tree(t, out); len(got) != len(before) || got["zsm@blog.socket.d/zsmgen.conf"] != before["zsm@blog.socket.d/zsmgen.conf"] {
		t.Error("a refused run changed files")
	}
}

func TestUnitsDefaultDir(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, twoSites)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	if code, stdout, stderr := zsmgen(t, "units", "--zsm", "/bin/true", cfg); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "config", "systemd", "user", "zsm@.service")); err != nil {
		t.Errorf("units not in $XDG_CONFIG_HOME/systemd/user: %v", err)
	}
}

// TestMain gives the tests a state directory of their own: zsmgen units
// keeps a copy of each site there (package snapshot), not in a real home.
func TestMain(m *testing.M) {
	os.Exit(runIsolated(m))
}

func runIsolated(m *testing.M) int {
	dir, err := os.MkdirTemp("", "zsmgen-test-state-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	os.Setenv("XDG_STATE_HOME", dir)
	return m.Run()
}

// zsmgen units keeps a copy of each site, current for the file as it is
// (package snapshot), for the brokers' cold starts; --dry-run keeps none.
func TestUnitsKeepsCopies(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	cfg := writeConfig(t, dir, twoSites)
	state := snapshot.Dir("")
	zsm := filepath.Join(dir, "zsm")
	os.WriteFile(zsm, []byte("#!/bin/sh\n"), 0o755)
	digest := func() string {
		src, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		home, _ := os.UserHomeDir()
		return snapshot.Digest(cfg, home, src)
	}
	if code, _, stderr := zsmgen(t, "units", "--dry-run", "--zsm", zsm, "--out", out, cfg); code != 0 {
		t.Fatalf("dry run: exit %d\n%s", code, stderr)
	}
	if snapshot.Current(state, cfg, "blog", digest()) != nil {
		t.Error("--dry-run kept a copy")
	}
	if code, _, stderr := zsmgen(t, "units", "--zsm", zsm, "--out", out, cfg); code != 0 {
		t.Fatalf("units: exit %d\n%s", code, stderr)
	}
	for _, name := range []string{"blog", "shop"} {
		if s := snapshot.Current(state, cfg, name, digest()); s == nil || s.Name != name {
			t.Errorf("no current copy of %s after units: %v", name, s)
		}
	}
	// An edit: the copies no longer stand for the file.
	writeConfig(t, dir, twoSites+"\n# edited\n")
	if snapshot.Current(state, cfg, "blog", digest()) != nil {
		t.Error("a copy is current after the file changed")
	}
}

// TestUnitsLinger: units written into the user's own unit directory come
// with the lingering notice, once, on stderr, when the user's file is
// absent from the linger directory, and without it when present; units
// written elsewhere (--out) run on another manager and get no notice.
func TestUnitsLinger(t *testing.T) {
	name := linger.Username()
	if name == "" {
		t.Skip("cannot tell who runs the test")
	}
	dir := t.TempDir()
	cfg := writeConfig(t, dir, twoSites)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	lingerDir := filepath.Join(dir, "linger")
	os.Mkdir(lingerDir, 0o755)
	t.Setenv(linger.EnvDir, lingerDir)
	hint := "run: loginctl enable-linger " + name + "\n"

	code, stdout, stderr := zsmgen(t, "units", "--zsm", "/bin/true", cfg)
	if code != 0 || strings.Count(stderr, hint) != 1 || strings.Contains(stdout, "linger") {
		t.Errorf("lingering off: exit %d, the hint %d times on stderr, want once:\n%s%s", code, strings.Count(stderr, hint), stdout, stderr)
	}
	if code, _, stderr := zsmgen(t, "units", "--zsm", "/bin/true", "--out", t.TempDir(), cfg); code != 0 || stderr != "" {
		t.Errorf("--out, lingering off: exit %d, stderr %q", code, stderr)
	}
	if err := os.WriteFile(filepath.Join(lingerDir, name), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := zsmgen(t, "units", "--zsm", "/bin/true", cfg); code != 0 || stderr != "" {
		t.Errorf("lingering on: exit %d, stderr %q\n%s", code, stderr, stdout)
	}
}

// TestVersion: `zsmgen --version` and `zsmgen version` print the build's
// version on stdout and exit 0.
func TestVersion(t *testing.T) {
	want := "zsmgen " + version.Read().String() + "\n"
	for _, arg := range []string{"--version", "version"} {
		code, out, errOut := zsmgen(t, arg)
		if code != 0 || out != want || errOut != "" {
			t.Errorf("zsmgen %s: exit %d, stdout %q, stderr %q; want 0, %q", arg, code, out, errOut, want)
		}
	}
	if !strings.Contains(want, " (go1.") {
		t.Errorf("the version line %q does not name the toolchain", want)
	}
}

// TestFindZSM: without --zsm, units run the zsm beside zsmgen (installed:
// /usr/bin/zsm beside /usr/bin/zsmgen; in a clone: bin/zsm), else the one
// on $PATH, else zsmgen says to pass --zsm.
func TestFindZSM(t *testing.T) {
	root := t.TempDir()
	usrBin, other := filepath.Join(root, "usr", "bin"), filepath.Join(root, "other")
	for _, p := range []string{filepath.Join(usrBin, "zsmgen"), filepath.Join(usrBin, "zsm"), filepath.Join(other, "zsm")} {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", other)
	if got, err := findZSM(filepath.Join(usrBin, "zsmgen")); err != nil || got != filepath.Join(usrBin, "zsm") {
		t.Errorf("findZSM beside a zsm = %q, %v; want %s", got, err, filepath.Join(usrBin, "zsm"))
	}
	lone := filepath.Join(root, "lone", "zsmgen")
	if got, err := findZSM(lone); err != nil || got != filepath.Join(other, "zsm") {
		t.Errorf("findZSM with none beside = %q, %v; want the one on $PATH, %s", got, err, filepath.Join(other, "zsm"))
	}
	t.Setenv("PATH", filepath.Join(root, "empty"))
	if _, err := findZSM(lone); err == nil || !strings.Contains(err.Error(), "--zsm") {
		t.Errorf("findZSM with none anywhere: %v; want an error naming --zsm", err)
	}
}
