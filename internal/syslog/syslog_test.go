package syslog

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// daemon is a syslog daemon's socket in a test directory.
type daemon struct {
	t    *testing.T
	path string
	c    *net.UnixConn
}

func listen(t *testing.T, path string) *daemon {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &daemon{t: t, path: path, c: c}
}

// next returns the next datagram.
func (d *daemon) next() string {
	d.t.Helper()
	b := make([]byte, 8192)
	d.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := d.c.Read(b)
	if err != nil {
		d.t.Fatalf("reading the next syslog message: %v", err)
	}
	return string(b[:n])
}

var at = time.Date(2026, time.November, 2, 9, 4, 5, 0, time.UTC)

func dial(t *testing.T, d *daemon) *Conn {
	t.Helper()
	c, err := Dial(d.path)
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return at }
	t.Cleanup(func() { c.Close() })
	return c
}

func TestHandler(t *testing.T) {
	d := listen(t, filepath.Join(t.TempDir(), "log"))
	log := slog.New(NewHandler(dial(t, d), "zsm")).With("site", "blog")
	pid := os.Getpid()

	log.Info("worker ready", "pid", 42)
	log.WithGroup("g").Warn("slow start", "after", time.Second)
	log.Error("reload failed", "err", "site.hcl:4:14: bad")
	log.Debug("tick")
	for _, want := range []string{
		fmt.Sprintf("<30>Nov  2 09:04:05 zsm[%d]: worker ready site=blog pid=42", pid),
		fmt.Sprintf("<28>Nov  2 09:04:05 zsm[%d]: slow start site=blog g.after=1s", pid),
		fmt.Sprintf("<27>Nov  2 09:04:05 zsm[%d]: reload failed site=blog err=\"site.hcl:4:14: bad\"", pid),
		fmt.Sprintf("<31>Nov  2 09:04:05 zsm[%d]: tick site=blog", pid),
	} {
		if got := d.next(); got != want {
			t.Errorf("got  %q\nwant %q", got, want)
		}
	}
}

func TestLines(t *testing.T) {
	d := listen(t, filepath.Join(t.TempDir(), "log"))
	l := dial(t, d).Lines("blog")
	l.Write([]byte("one\ntwo"))
	l.Flush()
	for _, want := range []string{"one", "two"} {
		if got, want := d.next(), fmt.Sprintf("<30>Nov  2 09:04:05 blog[%d]: %s", os.Getpid(), want); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

// A syslog daemon that restarts gets the next message on its new socket.
func TestRedial(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	d := listen(t, path)
	c := dial(t, d)
	h := slog.New(NewHandler(c, "zsm"))
	h.Info("before")
	if got := d.next(); !strings.HasSuffix(got, ": before") {
		t.Fatalf("got %q", got)
	}
	d.c.Close()
	os.Remove(path)
	if err := c.send(sevInfo, "zsm", []byte("while away")); err == nil {
		t.Error("sending with no daemon: no error")
	}
	d = listen(t, path)
	h.Info("after")
	if got := d.next(); !strings.HasSuffix(got, ": after") {
		t.Fatalf("got %q", got)
	}
}

func TestDialMissing(t *testing.T) {
	if _, err := Dial(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("Dial of a missing socket: no error")
	}
}

// A daemon that stops reading costs a message, not a stalled broker.
func TestSendToStuckDaemon(t *testing.T) {
	d := listen(t, filepath.Join(t.TempDir(), "log"))
	c := dial(t, d)
	for i := range 5000 {
		start := time.Now()
		err := c.send(sevInfo, "zsm", []byte("filling the queue"))
		if err == nil {
			continue
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("message %d: %v; want a deadline error", i, err)
		}
		if took := time.Since(start); took > 10*sendTimeout {
			t.Errorf("a send to a full queue took %v", took)
		}
		// The daemon reads again: the next message goes through.
		d.next()
		if err := c.send(sevInfo, "zsm", []byte("after")); err != nil {
			t.Errorf("after the daemon read again: %v", err)
		}
		return
	}
	t.Fatal("5000 messages fitted in a queue nobody reads")
}
