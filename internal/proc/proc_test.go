package proc

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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

// recorder is an output writer with a Flush, as a line splitter has.
type recorder struct {
	strings.Builder
	flushed bool
}

func (r *recorder) Flush() { r.flushed = true }

func TestSpawnOutputPerWorker(t *testing.T) {
	var outs []*recorder
	sp := Spawner{Output: func() (io.Writer, io.Writer) {
		o, e := &recorder{}, &recorder{}
		outs = append(outs, o, e)
		return o, e
	}}
	for i := range 2 {
		p, err := sp.Spawn(Spec{Argv: []string{"sh", "-c", fmt.Sprintf("echo out%d; echo err%d >&2", i, i)},
			Dir: t.TempDir(), Env: []string{"PATH=/usr/bin:/bin"}, Stdout: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		p.Wait()
	}
	want := []string{"out0\n", "err0\n", "out1\n", "err1\n"}
	if len(outs) != len(want) {
		t.Fatalf("Output called for %d writers; want %d", len(outs), len(want))
	}
	for i, r := range outs {
		if r.String() != want[i] || !r.flushed {
			t.Errorf("writer %d got %q, flushed %v; want %q, flushed", i, r.String(), r.flushed, want[i])
		}
	}
}

func TestStopped(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if Stopped(cmd.Process.Pid) {
		t.Fatal("a running sleep is reported stopped")
	}
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !Stopped(cmd.Process.Pid) {
		if time.Now().After(deadline) {
			t.Fatal("a SIGSTOPped sleep is not reported stopped within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
