package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const (
	messy     = "site   \"blog\" {\n\tlisten=[\"127.0.0.1:8080\"]\n  command = [ \"./blog\" ] # the app\n\n\n}\n"
	formatted = "site \"blog\" {\n  listen  = [\"127.0.0.1:8080\"]\n  command = [\"./blog\"] # the app\n}\n"
)

// write puts body in dir/name with perm and returns its path.
func write(t *testing.T, dir, name, body string, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, perm); err != nil { // whatever the umask
		t.Fatal(err)
	}
	return p
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// TestFmt: fmt rewrites a file that is not formatted, by a rename (a
// reader sees the old file or the new one, never half of one), keeping
// its permissions, and names it; it leaves a formatted file alone; a
// symbolic link stays one, its target formatted.
func TestFmt(t *testing.T) {
	dir := t.TempDir()
	a := write(t, dir, "a.hcl", messy, 0o600)
	b := write(t, dir, "b.hcl", formatted, 0o644)
	target := write(t, dir, "target.hcl", messy, 0o640)
	link := filepath.Join(dir, "link.hcl")
	if err := os.Symlink("target.hcl", link); err != nil {
		t.Fatal(err)
	}
	inoA, inoB := inode(t, a), inode(t, b)

	code, out, errOut := zsmgen(t, "fmt", a, b, link)
	if code != 0 || out != a+"\n"+link+"\n" || errOut != "" {
		t.Errorf("fmt: exit %d, stdout %q, stderr %q; want 0 and the two changed files named", code, out, errOut)
	}
	for _, p := range []string{a, b, target} {
		if got := read(t, p); got != formatted {
			t.Errorf("%s after fmt:\n%s\nwant:\n%s", p, got, formatted)
		}
	}
	if inode(t, a) == inoA {
		t.Error("a.hcl was rewritten in place, not replaced by a rename")
	}
	if inode(t, b) != inoB {
		t.Error("b.hcl, formatted already, was replaced")
	}
	for p, want := range map[string]os.FileMode{a: 0o600, target: 0o640} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %v", p, fi.Mode().Perm(), err, want)
		}
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("link.hcl is no longer a symbolic link: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 4 {
		t.Errorf("%d files in the directory, want the 4 it had: a temporary file left?", len(ents))
	}

	// Idempotent: a second run changes nothing and names nothing.
	if code, out, _ := zsmgen(t, "fmt", a, b, link); code != 0 || out != "" {
		t.Errorf("second fmt: exit %d, stdout %q", code, out)
	}
}

// TestFmtCheck: --check changes nothing, names the files that are not
// formatted and exits 1; 0 with nothing named when all are.
func TestFmtCheck(t *testing.T) {
	dir := t.TempDir()
	a := write(t, dir, "a.hcl", messy, 0o644)
	b := write(t, dir, "b.hcl", formatted, 0o644)
	code, out, errOut := zsmgen(t, "fmt", "--check", a, b)
	if code != 1 || out != a+"\n" || errOut != "" {
		t.Errorf("fmt --check: exit %d, stdout %q, stderr %q; want 1 and %s named", code, out, errOut, a)
	}
	if read(t, a) != messy {
		t.Error("--check changed a file")
	}
	if code, out, errOut := zsmgen(t, "fmt", "--check", b); code != 0 || out != "" || errOut != "" {
		t.Errorf("fmt --check of a formatted file: exit %d, stdout %q, stderr %q; want 0 and nothing", code, out, errOut)
	}
}

// TestFmtErrors: a file that does not parse is reported as check reports
// it (file:line:col, the line, the count) and left alone, with exit 1; the
// other files are formatted all the same. No file is a usage error.
func TestFmtErrors(t *testing.T) {
	dir := t.TempDir()
	badBody := "site \"a\" {\n  listen = [\"127.0.0.1:1\"\n  command = [\"./a\"]\n}\n"
	bad := write(t, dir, "bad.hcl", badBody, 0o644)
	a := write(t, dir, "a.hcl", messy, 0o644)
	code, out, errOut := zsmgen(t, "fmt", bad, a)
	if code != 1 || out != a+"\n" {
		t.Errorf("fmt: exit %d, stdout %q; want 1 and %s named", code, out, a)
	}
	for _, want := range []string{bad + ":3:3: Missing item separator", "    3 |   command = [\"./a\"]", "1 problem in " + bad} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if read(t, bad) != badBody || read(t, a) != formatted {
		t.Error("the bad file changed, or the good one was not formatted")
	}
	// check reports the same problem the same way.
	if _, _, checkErr := zsmgen(t, "check", bad); !strings.Contains(checkErr, bad+":3:3: Missing item separator") {
		t.Errorf("check reports it otherwise:\n%s", checkErr)
	}

	if code, _, errOut := zsmgen(t, "fmt", filepath.Join(dir, "missing.hcl")); code != 1 || !strings.Contains(errOut, "no such file") {
		t.Errorf("fmt of a missing file: exit %d, %q", code, errOut)
	}
	if code, _, errOut := zsmgen(t, "fmt"); code != 2 || !strings.Contains(errOut, "usage: zsmgen fmt [--check] FILE...") {
		t.Errorf("fmt without a file: exit %d, %q", code, errOut)
	}
}
