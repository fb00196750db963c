package main

import (
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestStartProcessSession checks that a server starts in a session of its
// own, as systemd starts a service, or shared, in the bench's.
func TestStartProcessSession(t *testing.T) {
	own, err := unix.Getsid(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, shared := range []bool{false, true} {
		p, err := startProcess("sleep", []string{"sleep", "60"}, nil, filepath.Join(t.TempDir(), "log"), syscall.SIGKILL, shared)
		if err != nil {
			t.Fatal(err)
		}
		sid, err := unix.Getsid(p.pid())
		pgid, _ := unix.Getpgid(p.pid())
		p.cmd.Process.Kill()
		<-p.done
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case !shared && sid != p.pid():
			t.Errorf("own session: sid %d, want the process's pid %d", sid, p.pid())
		case shared && sid != own:
			t.Errorf("shared: sid %d, want the bench's %d", sid, own)
		case shared && pgid != p.pid():
			t.Errorf("shared: process group %d, want its own (%d)", pgid, p.pid())
		}
	}
}
