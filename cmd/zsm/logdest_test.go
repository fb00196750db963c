package main

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/internal/event"
)

func TestParseLogDest(t *testing.T) {
	wd, _ := os.Getwd()
	tests := []struct {
		in, want string // want: the String form, "" for an error
	}{
		{"", "auto"},
		{"auto", "auto"},
		{"journal", "journal"},
		{"stderr", "stderr"},
		{"syslog", "syslog"},
		{"syslog:/var/run/log", "syslog:/var/run/log"},
		{"/var/log/zsm/blog.log", "/var/log/zsm/blog.log"},
		{"./blog.log", filepath.Join(wd, "blog.log")},
		{"syslog:", ""},
		{"file", ""},
		{"console", ""},
	}
	for _, tt := range tests {
		d, err := parseLogDest(tt.in)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("parseLogDest(%q) = %v; want an error", tt.in, d)
		case tt.want != "" && (err != nil || d.String() != tt.want):
			t.Errorf("parseLogDest(%q) = %v, %v; want %s", tt.in, d, err, tt.want)
		}
	}
}

// Each destination gets the broker's entries and, a line at a time, the
// workers' output; a fallback is said.
func TestOpenLog(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "log")
	daemonLog, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer daemonLog.Close()
	recv := func() string {
		b := make([]byte, 4096)
		daemonLog.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := daemonLog.Read(b)
		if err != nil {
			t.Fatalf("syslog: %v", err)
		}
		return string(b[:n])
	}

	l, err := openLog(logDest{kind: "syslog", path: sock}, "blog", false)
	if err != nil || l.note != "" {
		t.Fatalf("syslog: %v, note %q", err, l.note)
	}
	l.events.Event(event.Event{Kind: event.WorkerReady, Message: "worker ready", Pid: 7})
	out, _ := l.output()
	io.WriteString(out, "app says hi\n")
	got := recv() + "|" + recv()
	for _, want := range []string{"<30>", " zsm[", "]: worker ready event=worker-ready pid=7", "<30>", " blog[", "]: app says hi"} {
		if !strings.Contains(got, want) {
			t.Errorf("syslog got %q, missing %q", got, want)
		}
	}
	l.close()

	path := filepath.Join(dir, "blog.log")
	l, err = openLog(logDest{kind: "file", path: path}, "blog", true)
	if err != nil {
		t.Fatal(err)
	}
	l.events.Event(event.Event{Kind: event.WorkerReady, Message: "worker ready"})
	// The event goes through the queue: wait for it to land first.
	eventually(t, "the event in the log file", func() bool {
		b, _ := os.ReadFile(path)
		return bytes.Contains(b, []byte(`msg="worker ready"`))
	})
	o1, _ := l.output()
	o2, _ := l.output()
	io.WriteString(o1, "first wor")
	io.WriteString(o2, "second\n")
	io.WriteString(o1, "ker\n")
	// The lines go through a queue: wait for them before the rotation.
	eventually(t, "the workers' lines in the log file", func() bool {
		b, _ := os.ReadFile(path)
		return bytes.HasSuffix(b, []byte("\nsecond\nfirst worker\n"))
	})
	os.Rename(path, path+".1")
	if err := l.reopen(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(o1, "after\n")
	l.close() // delivers what is queued
	old, _ := os.ReadFile(path + ".1")
	if !bytes.Contains(old, []byte(`msg="worker ready"`)) || !bytes.HasSuffix(old, []byte("\nsecond\nfirst worker\n")) {
		t.Errorf("rotated log:\n%s", old)
	}
	if b, _ := os.ReadFile(path); string(b) != "after\n" {
		t.Errorf("reopened log: %q", b)
	}

	l, err = openLog(logDest{kind: "syslog", path: filepath.Join(dir, "none")}, "blog", true)
	if err != nil || !strings.Contains(l.note, "the broker's log is lost; give --log FILE") {
		t.Errorf("daemon without syslog: %v, note %q", err, l.note)
	}
	l.close()
	l, err = openLog(logDest{kind: "syslog", path: filepath.Join(dir, "none")}, "blog", false)
	if err != nil || !strings.Contains(l.note, "logging to stderr") || l.output != nil {
		t.Errorf("no syslog: %v, note %q", err, l.note)
	}
	l.close()
	l, err = openLog(logDest{kind: "journal", path: filepath.Join(dir, "none")}, "blog", false)
	if err != nil || !strings.Contains(l.note, "logging to stderr") || l.journal != "" {
		t.Errorf("no journal: %v, note %q, worker streams %q", err, l.note, l.journal)
	}
	l.close()
}

// eventually polls cond until it holds, failing the test after 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}
