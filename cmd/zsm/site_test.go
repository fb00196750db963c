package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/internal/control"
	"github.com/zsm-dev/zsm/internal/loadgen"
	"github.com/zsm-dev/zsm/internal/snapshot"
)

// helloSite is a configuration of site "snap" at addr, served by this test
// binary's hello worker.
func helloSite(addr string) string {
	return fmt.Sprintf(`site "snap" {
  listen      = [%q]
  protocol    = "http"
  command     = [%q]
  environment = { ZSM_TEST_WORKER = "hello" }
}
`, addr, os.Args[0])
}

// runServer runs a server for site "snap" of cfg until stop is called, or
// the test ends.
func runServer(t *testing.T, cfg string) (stop func()) {
	t.Helper()
	srv, err := newServer(serveOptions{site: "snap", config: cfg, log: logDest{kind: "stderr"}}, false, os.Environ())
	if err != nil {
		t.Fatalf("newServer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			srv.close()
		})
	}
	t.Cleanup(stop)
	return stop
}

// A configuration that stops loading does not take the site down: the
// next broker runs the copy that loaded last, says why, and a reload that
// loads the file again takes it.
func TestBrokenConfigRunsSavedCopy(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", dir)
	t.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+filepath.Join(dir, "no-bus"))
	t.Setenv("NOTIFY_SOCKET", "")
	addr := fmt.Sprintf("127.0.0.1:%d", freeLoopbackPort(t))
	cfg := filepath.Join(dir, "site.hcl")
	writeConfig(t, cfg, helloSite(addr))

	stop := runServer(t, cfg)
	if code, body, err := loadgen.GetWithin("tcp", addr, "/", 10*time.Second); err != nil || code != 200 {
		t.Fatalf("first broker: %d %q %v", code, body, err)
	}
	stop()

	// A typo, then the next start (a restart, a cold start).
	writeConfig(t, cfg, strings.Replace(helloSite(addr), "command", "comand", 1))
	runServer(t, cfg)
	if code, body, err := loadgen.GetWithin("tcp", addr, "/", 10*time.Second); err != nil || code != 200 || body != "hello\n" {
		t.Fatalf("with a broken file: %d %q %v; want the saved copy serving", code, body, err)
	}
	c := control.NewClient(dir, "snap")
	st, err := c.Status(context.Background())
	if err != nil || !strings.Contains(st.LastError, "does not load") || !strings.Contains(st.LastError, "site.hcl:") {
		t.Errorf("status with a broken file: %+v, %v; want the error, with file:line:col", st, err)
	}
	if err := c.Reload(context.Background()); err == nil {
		t.Error("a reload of the broken file succeeded")
	}
	writeConfig(t, cfg, helloSite(addr))
	if err := c.Reload(context.Background()); err != nil {
		t.Fatalf("reload of the mended file: %v", err)
	}
	if st, _ := c.Status(context.Background()); st.LastError != "" {
		t.Errorf("after the mended file loaded: last error %q", st.LastError)
	}
}

// Without a saved copy and without sockets from systemd, a broken file has
// nothing to serve: the broker says why and exits with EX_CONFIG.
func TestBrokenConfigNothingSaved(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", dir)
	t.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
	cfg := filepath.Join(dir, "site.hcl")
	writeConfig(t, cfg, strings.Replace(helloSite("127.0.0.1:1"), "command", "comand", 1))
	_, err := newServer(serveOptions{site: "snap", config: cfg, log: logDest{kind: "stderr"}}, false, os.Environ())
	var ee exitError
	if !errorsAs(err, &ee) || ee.code != exConfig || !strings.Contains(err.Error(), "site.hcl:") {
		t.Errorf("newServer: %v; want EX_CONFIG with the file's error", err)
	}
}

func errorsAs(err error, target *exitError) bool {
	e, ok := err.(exitError)
	if ok {
		*target = e
	}
	return ok
}

// A broker reads its site from the copy kept of it while the file is
// unchanged, without decoding the file (whose other sites it does not
// need); an edit is decoded.
func TestLoadRunsCurrentCopy(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "site.hcl")
	writeConfig(t, cfg, helloSite("127.0.0.1:1"))
	s := &server{config: cfg, state: filepath.Join(dir, "state"), opts: serveOptions{site: "snap"}}
	site, err := s.load()
	if err != nil {
		t.Fatal(err)
	}
	// Mark the copy: a load that returns the mark did not decode the file.
	saved, err := snapshot.Load(s.state, cfg, "snap")
	if err != nil {
		t.Fatalf("no copy kept: %v", err)
	}
	saved.Site.Environment["MARK"] = "copy"
	if err := snapshot.Save(s.state, cfg, saved.Source, saved.Site); err != nil {
		t.Fatal(err)
	}
	if got, err := s.load(); err != nil || got.Environment["MARK"] != "copy" {
		t.Errorf("unchanged file: environment %v, %v; want the copy's", got.Environment, err)
	}
	writeConfig(t, cfg, helloSite("127.0.0.1:2"))
	got, err := s.load()
	if err != nil || got.Environment["MARK"] != "" || got.Listen[0].String() == site.Listen[0].String() {
		t.Errorf("edited file: %v %v, %v; want it decoded", got.Listen, got.Environment, err)
	}
}

// Workers start through zsm-exec when it is beside zsm (installed or
// built together), else through zsm itself.
func TestShimBeside(t *testing.T) {
	dir := t.TempDir()
	self := filepath.Join(dir, "zsm")
	if got := shimBeside(self); got != self {
		t.Errorf("without zsm-exec: %s, want zsm itself", got)
	}
	exec := filepath.Join(dir, "zsm-exec")
	if err := os.WriteFile(exec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := shimBeside(self); got != self {
		t.Errorf("with a zsm-exec that is not executable: %s, want zsm itself", got)
	}
	os.Chmod(exec, 0o755)
	if got := shimBeside(self); got != exec {
		t.Errorf("with zsm-exec: %s, want it", got)
	}
}
