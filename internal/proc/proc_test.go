package proc

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	os.WriteFile(filepath.Join(dir, "app"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(bin, "tool"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "data"), []byte("x"), 0o644)

	tests := []struct {
		prog, want, err string
	}{
		{"./app", filepath.Join(dir, "app"), ""},
		{filepath.Join(dir, "app"), filepath.Join(dir, "app"), ""},
		{"tool", filepath.Join(bin, "tool"), ""},
		{"./missing", "", "no such file or directory"},
		{"./data", "", "not executable"},
		{"./bin", "", "is a directory"},
		{"nowhere-to-be-found", "", "not found in PATH"},
	}
	env := []string{"PATH=" + bin}
	for _, tt := range tests {
		got, err := lookPath(tt.prog, dir, env)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("lookPath(%q) = %q, %v; want an error saying %q", tt.prog, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("lookPath(%q) = %q, %v; want %q", tt.prog, got, err, tt.want)
		}
	}
}

func TestSpawnAndDescribe(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	tests := []struct {
		script, want string
	}{
		{"exit 3", "exited with status 3"},
		{"kill -9 $$", "killed by SIGKILL"},
	}
	for _, tt := range tests {
		p, err := Spawner{}.Spawn(Spec{Argv: []string{sh, "-c", tt.script}, Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		if got := Describe(p.Wait()); got != tt.want {
			t.Errorf("%q: %s, want %s", tt.script, got, tt.want)
		}
	}
}

func TestSpawnOwnProcessGroup(t *testing.T) {
	p, err := Spawner{}.Spawn(Spec{Argv: []string{"sleep", "60"}, Dir: t.TempDir(), Env: []string{"PATH=/usr/bin:/bin"}})
	if err != nil {
		t.Fatal(err)
	}
	pgid, err := syscall.Getpgid(p.Pid())
	if err != nil {
		t.Fatal(err)
	}
	if pgid != p.Pid() {
		t.Errorf("worker's process group is %d, want its own (%d)", pgid, p.Pid())
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := Describe(p.Wait()); got != "killed by SIGTERM" {
		t.Errorf("after SIGTERM to its group: %s", got)
	}
}

func TestSpawnMissing(t *testing.T) {
	_, err := Spawner{}.Spawn(Spec{Argv: []string{"./no-such-app"}, Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "./no-such-app: no such file or directory") {
		t.Errorf("got %v", err)
	}
}
