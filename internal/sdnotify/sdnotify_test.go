package sdnotify

import (
	"net"
	"path/filepath"
	"testing"
)

func TestNotify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	n := New()
	if n == nil {
		t.Fatal("New() = nil with NOTIFY_SOCKET set")
	}
	if err := n.Notify("READY=1\nSTATUS=1 workers"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	k, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(buf[:k]); got != "READY=1\nSTATUS=1 workers" {
		t.Errorf("got %q", got)
	}
}

func TestOffSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n := New()
	if n != nil {
		t.Fatalf("New() = %v off systemd, want nil", n)
	}
	if err := n.Notify("READY=1"); err != nil {
		t.Errorf("a nil Notifier: %v", err)
	}
}
