package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/activation"
	"golang.org/x/sys/unix"
)

const timeout = 20 * time.Second

// getHello sends GET / on a raw connection and returns the body.
func getHello(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(timeout))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func waitErr(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(timeout):
		t.Fatal("run did not return")
		return nil
	}
}

// TestHandoff plays the broker: READY with the slots given, a connection
// answered, DONE, and a clean exit when the channel ends.
func TestHandoff(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[0]), "broker")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	ch := c.(*net.UnixConn)
	defer ch.Close()
	t.Setenv(activation.EnvChannelFD, strconv.Itoa(fds[1])) // Listen takes it
	t.Setenv(activation.EnvProtocol, "1")

	done := make(chan error, 1)
	go func() { done <- run([]string{"-slots", "2"}, io.Discard) }()

	read := func() activation.Report {
		t.Helper()
		ch.SetReadDeadline(time.Now().Add(timeout))
		m, f, err := activation.ReadMessage(ch)
		if err != nil || f != nil {
			t.Fatalf("broker read: %v, %v", m, err)
		}
		r, err := activation.ParseReport(m)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := read(); r != (activation.Report{Ready: true, Slots: 2}) {
		t.Fatalf("got %+v, want READY=1 SLOTS=2", r)
	}

	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	client, err := net.Dial("tcp", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := tcp.Accept()
	if err != nil {
		t.Fatal(err)
	}
	h := activation.Handoff{ID: 1, Listener: tcp.Addr().String(), Peer: client.LocalAddr().String()}
	err = activation.WriteMessage(ch, h.Message(), server.(*net.TCPConn))
	server.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got := getHello(t, client); got != "hello\n" {
		t.Errorf("body %q", got)
	}
	if r := read(); r != (activation.Report{Done: true, ID: 1}) {
		t.Fatalf("got %+v, want DONE=1 ID=1", r)
	}

	ch.CloseWrite() // the broker ends the channel: finish and exit
	if err := waitErr(t, done); err != nil {
		t.Fatalf("run: %v", err)
	}
}

// TestStandalone binds -addr, answers, and stops on SIGTERM.
func TestStandalone(t *testing.T) {
	for _, k := range []string{activation.EnvChannelFD, "LISTEN_PID", "LISTEN_FDS"} {
		if _, ok := os.LookupEnv(k); ok {
			t.Skipf("%s is set: not standalone", k)
		}
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run([]string{"-addr", "127.0.0.1:0"}, pw)
		pw.Close()
		done <- err
	}()
	lines := bufio.NewScanner(pr)
	if !lines.Scan() {
		t.Fatal("no output")
	}
	// "hello: serving (standalone, 127.0.0.1:PORT)"
	first := lines.Text()
	go io.Copy(io.Discard, pr)
	addr, ok := strings.CutPrefix(first, "hello: serving (standalone, ")
	if !ok {
		t.Fatalf("first line %q", first)
	}
	c, err := net.Dial("tcp", strings.TrimSuffix(addr, ")"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := getHello(t, c); got != "hello\n" {
		t.Errorf("body %q", got)
	}
	// The listener catches SIGTERM (registered before the line above).
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	if err := waitErr(t, done); err != nil {
		t.Fatalf("run: %v", err)
	}
}

// TestBytes answers GET /bytes/N with N bytes, and a bad N with 400.
func TestBytes(t *testing.T) {
	for _, tt := range []struct {
		path   string
		status int
		size   int
	}{
		{"/", http.StatusOK, len("hello\n")},
		{"/bytes/0", http.StatusOK, 0},
		{"/bytes/65536", http.StatusOK, 65536},
		{"/bytes/100000", http.StatusOK, 100000}, // more than one filler
		{"/bytes/-1", http.StatusBadRequest, -1},
		{"/bytes/lots", http.StatusBadRequest, -1},
		{"/bytes/" + strconv.Itoa(maxBytes+1), http.StatusBadRequest, -1},
	} {
		w := httptest.NewRecorder()
		hello(w, httptest.NewRequest("GET", tt.path, nil))
		if w.Code != tt.status {
			t.Errorf("GET %s: status %d, want %d", tt.path, w.Code, tt.status)
			continue
		}
		if tt.size < 0 {
			continue
		}
		if got := w.Body.Len(); got != tt.size {
			t.Errorf("GET %s: %d bytes, want %d", tt.path, got, tt.size)
		}
		if cl := w.Header().Get("Content-Length"); tt.path != "/" && cl != strconv.Itoa(tt.size) {
			t.Errorf("GET %s: Content-Length %q", tt.path, cl)
		}
	}
}
