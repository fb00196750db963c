package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/internal/control"
	"github.com/zsm-dev/zsm/internal/loadgen"
)

// A journal that stops reading (a socket nobody reads, as a SIGSTOPped
// journald is) costs log entries, never requests: with a burst of
// connections that each make an event, every client still gets its
// answer at once, and the site's status counts the entries dropped.
func TestStalledJournal(t *testing.T) {
	// The threads are cmd's to decide: the broker's loop gets a second P.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	dir := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", dir)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+filepath.Join(dir, "no-bus"))
	t.Setenv("NOTIFY_SOCKET", "")
	sock := filepath.Join(dir, "journal")
	journald, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer journald.Close() // never read
	port := freeLoopbackPort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := filepath.Join(dir, "site.hcl")
	// The app cannot start: every connection is answered 503 by the
	// broker, and makes an event.
	writeConfig(t, cfg, fmt.Sprintf(`site "stall" {
  listen   = [%q]
  protocol = "http"
  command  = ["./no-such-app"]
}
`, addr))
	srv, err := newServer(serveOptions{site: "stall", config: cfg, log: logDest{kind: "journal", path: sock}}, false, os.Environ())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	// 2000 connections, 200 at a time, each given 5s for its answer: a
	// broker that waited on the journal for each event (100ms) would keep
	// the last of each wave waiting 20s.
	const clients, each = 200, 10
	var answered, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for range each {
				code, _, err := loadgen.GetWithin("tcp", addr, "/", 5*time.Second)
				switch {
				case err == nil && code == http.StatusServiceUnavailable:
					answered.Add(1)
				default:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %v", code, err))
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d of %d clients got no 503 in time (first: %v)", failed.Load(), clients*each, firstErr.Load())
	}
	st, err := control.NewClient(dir, "stall").Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.LogDropped == 0 || st.Shed < clients*each {
		t.Errorf("status: %d events dropped, %d connections shed; want drops counted and %d shed", st.LogDropped, st.Shed, clients*each)
	}
	t.Logf("%d answered; %d events dropped", answered.Load(), st.LogDropped)
	if n := runtime.GOMAXPROCS(0); n < 2 {
		t.Errorf("GOMAXPROCS %d while the broker runs; want 2", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	done <- nil
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Errorf("GOMAXPROCS %d once the broker stopped; want 1 again", n)
	}
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func writeConfig(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
