package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/zsm-dev/zsm/internal/control"
	"github.com/zsm-dev/zsm/internal/status"
	"github.com/zsm-dev/zsm/internal/version"
)

// TestVersion: `zsm --version` and `zsm version` print the build's
// version on stdout and exit 0; usage names the command.
func TestVersion(t *testing.T) {
	want := "zsm " + version.Read().String() + "\n"
	for _, arg := range []string{"--version", "version"} {
		var stdout, stderr bytes.Buffer
		code := run([]string{arg}, &stdout, &stderr)
		if code != 0 || stdout.String() != want || stderr.Len() > 0 {
			t.Errorf("zsm %s: exit %d, stdout %q, stderr %q; want 0, %q", arg, code, stdout.String(), stderr.String(), want)
		}
	}
	if !strings.Contains(want, " (go1.") {
		t.Errorf("the version line %q does not name the toolchain", want)
	}
	if !strings.Contains(usage, "--version") {
		t.Error("usage does not mention --version")
	}
}

// TestStartMessage: the broker's first log line says which zsm it is, and
// the site's status carries the same version.
func TestStartMessage(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", dir)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+filepath.Join(dir, "no-bus"))
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
	cfg, logPath := filepath.Join(dir, "site.hcl"), filepath.Join(dir, "broker.log")
	writeConfig(t, cfg, fmt.Sprintf(`site "ver" {
  listen  = ["127.0.0.1:%d"]
  command = ["./no-such-app"]
}
`, freeLoopbackPort(t)))
	srv, err := newServer(serveOptions{site: "ver", config: cfg, log: logDest{kind: "file", path: logPath}}, false, os.Environ())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	// stop ends Run and closes the server, which flushes the log; also
	// when the test fails early.
	stop := sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		srv.close()
	})
	t.Cleanup(stop)
	var st status.Site
	eventually(t, "the control socket answering", func() bool {
		st, err = control.NewClient(dir, "ver").Status(context.Background())
		return err == nil
	})
	stop()
	v := version.Read()
	if st.Version != v.String() {
		t.Errorf("status Version %q, want %q", st.Version, v.String())
	}

	f, err := os.Open(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		t.Fatalf("empty log: %v", sc.Err())
	}
	first := sc.Text()
	if !strings.Contains(first, "zsm starting") || !strings.Contains(first, "version="+v.Version) {
		t.Errorf("first log line %q; want it to say zsm starting, version=%s", first, v.Version)
	}
}
