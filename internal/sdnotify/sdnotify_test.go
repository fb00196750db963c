package sdnotify

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
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

func TestStoreFD(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	n := New()

	f, err := os.CreateTemp(t.TempDir(), "stored")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("state")
	if err := n.StoreFD("zsm-conn", int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	buf, oob := make([]byte, 256), make([]byte, unix.CmsgSpace(4))
	k, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(buf[:k]); got != "FDSTORE=1\nFDNAME=zsm-conn" {
		t.Errorf("message %q", got)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("control messages: %v %v", msgs, err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("fds: %v %v", fds, err)
	}
	got := os.NewFile(uintptr(fds[0]), "got")
	defer got.Close()
	var a, b unix.Stat_t
	unix.Fstat(int(f.Fd()), &a)
	unix.Fstat(int(got.Fd()), &b)
	if a.Ino != b.Ino {
		t.Error("the stored fd is not the file")
	}

	if err := n.RemoveFDs("zsm-conn"); err != nil {
		t.Fatal(err)
	}
	k, _ = c.Read(buf)
	if got := string(buf[:k]); got != "FDSTOREREMOVE=1\nFDNAME=zsm-conn" {
		t.Errorf("message %q", got)
	}
}
