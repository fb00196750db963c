package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRuntimeDir(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1000")
	if d, err := runtimeDir(); err != nil || d != "/run/user/1000" {
		t.Errorf("with XDG_RUNTIME_DIR: %q, %v", d, err)
	}

	t.Setenv("XDG_RUNTIME_DIR", "")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	want := filepath.Join(tmp, fmt.Sprintf("zsm-%d", os.Getuid()))
	d, err := runtimeDir()
	if err != nil || d != want {
		t.Fatalf("fallback: %q, %v; want %q", d, err, want)
	}
	if fi, _ := os.Stat(d); fi.Mode().Perm() != 0o700 {
		t.Errorf("fallback created mode %o, want 700", fi.Mode().Perm())
	}

	// Someone else's, or anyone's: refused.
	os.Chmod(d, 0o777)
	if _, err := runtimeDir(); err == nil || !strings.Contains(err.Error(), "not a private directory") {
		t.Errorf("a world-writable fallback: %v, want a refusal", err)
	}
	os.Remove(d)
	other := t.TempDir()
	if err := os.Symlink(other, d); err != nil {
		t.Fatal(err)
	}
	if _, err := runtimeDir(); err == nil {
		t.Error("a symlinked fallback was trusted")
	}
}
