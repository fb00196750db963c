package proc

import (
	"fmt"
	"io"
	"net"
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
	eventually(t, 5*time.Second, "a SIGSTOPped sleep reported stopped", func() bool { return Stopped(cmd.Process.Pid) })
}

// eventually polls cond every millisecond until it holds, or fails t
// after within.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(within)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
	}
}

// When a worker dies, what is left of its process group is killed and gone
// by the time Wait returns: a child that held the worker's port has let it
// go, and a new worker can bind it at once.
func TestWaitLeavesNoGroup(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	py := fmt.Sprintf(`import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1",%d)); s.listen(5); time.sleep(60)`, port)
	p, err := Spawner{}.Spawn(Spec{Argv: []string{"sh", "-c", "python3 -c '" + py + "' & sleep 60"}, Dir: t.TempDir(), Env: []string{"PATH=/usr/bin:/bin"}})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the child listening", func() bool {
		_, ok, _ := ListenerIn(p.Pid(), port)
		return ok
	})
	syscall.Kill(p.Pid(), syscall.SIGKILL) // the worker alone: its child lives on
	p.Wait()
	if groupRuns(p.Pid()) {
		t.Errorf("after Wait, a process of group %d still runs", p.Pid())
	}
	ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("the port is still held after Wait: %v", err)
	}
	ln.Close()
}

// groupGone waits for a process group that still runs, and returns once
// its last process has exited.
func TestGroupGone(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { groupGone(cmd.Process.Pid); close(done) }()
	window := time.NewTimer(100 * time.Millisecond)
	defer window.Stop()
	select {
	case <-done:
		t.Fatal("groupGone returned while the group runs")
	case <-window.C:
	}
	cmd.Process.Kill()
	select {
	case <-done:
	case <-time.After(groupGoneWithin):
		t.Fatal("groupGone did not return once the group was gone")
	}
	cmd.Wait()
}
