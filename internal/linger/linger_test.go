package linger

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWarn: the notice, naming the command to run, appears when the
// user's file is absent from the linger directory, and not when present.
func TestWarn(t *testing.T) {
	name := Username()
	if name == "" {
		t.Skip("cannot tell who runs the test")
	}
	dir := t.TempDir()
	t.Setenv(EnvDir, dir)
	var b bytes.Buffer
	if !Warn(&b, "zsmgen") || !strings.Contains(b.String(), "loginctl enable-linger "+name+"\n") {
		t.Errorf("without %s/%s: %q", dir, name, b.String())
	}
	if n := strings.Count(b.String(), "enable-linger"); n != 1 {
		t.Errorf("the command is said %d times, want once:\n%s", n, b.String())
	}
	if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if Warn(&b, "zsmgen") || b.Len() != 0 {
		t.Errorf("with %s/%s: %q", dir, name, b.String())
	}
}

func TestDir(t *testing.T) {
	t.Setenv(EnvDir, "")
	if Dir() != DefaultDir {
		t.Errorf("Dir() = %q without $%s", Dir(), EnvDir)
	}
	t.Setenv(EnvDir, "/tmp/x")
	if Dir() != "/tmp/x" {
		t.Errorf("Dir() = %q with $%s=/tmp/x", Dir(), EnvDir)
	}
}
