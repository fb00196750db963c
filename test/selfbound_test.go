package test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/test/systemdtest"
)

// selfBoundSite is a site run by `zsm serve` without systemd, as on a host
// without it (README, "Without systemd"): no LISTEN_FDS, and a private
// XDG_RUNTIME_DIR for its unix socket.
type selfBoundSite struct {
	bin, cfg, name string
	tcp            string // 127.0.0.1:PORT
	sock           string // the unix socket's path, unix:s.sock resolved
	runtimeDir     string
}

// newSelfBoundSite writes a config with one site listening on a free TCP
// port and on unix:s.sock. When the test ends, any process started with its
// runtime dir (broker or worker) that is still running is killed.
func newSelfBoundSite(t *testing.T, mode string) *selfBoundSite {
	t.Helper()
	bin := systemdtest.BuildBinaries(t)
	s := &selfBoundSite{
		bin:        bin,
		cfg:        filepath.Join(t.TempDir(), "site.hcl"),
		name:       uniqueName(t, "selfbound"),
		tcp:        fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		runtimeDir: t.TempDir(),
	}
	s.sock = filepath.Join(s.runtimeDir, "s.sock")
	writeFile(t, s.cfg, fmt.Sprintf(`site %q {
  listen   = [%q, "unix:s.sock"]
  mode     = %q
  command  = [%q]
  protocol = "http"
}
`, s.name, s.tcp, mode, helloWorker(t, bin)))
	t.Cleanup(func() {
		for _, p := range withEnv(t, "XDG_RUNTIME_DIR="+s.runtimeDir) {
			t.Errorf("process %d (%s) of the site still runs at the end of the test: killing it", p.pid, p.exe())
			p.kill()
		}
	})
	return s
}

// serve starts `zsm serve --config CFG --site NAME`, with extra arguments,
// with nothing from systemd in its environment.
func (s *selfBoundSite) serve(t *testing.T, extra ...string) *running {
	t.Helper()
	cmd := exec.Command(filepath.Join(s.bin, "zsm"), append([]string{"serve", "--config", s.cfg, "--site", s.name}, extra...)...)
	cmd.Dir = t.TempDir()
	cmd.Env = envWithout([]string{
		"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "LISTEN_PIDFDID", "NOTIFY_SOCKET",
		"WATCHDOG_USEC", "WATCHDOG_PID", "ZSM_CONFIG", "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS",
	}, "XDG_RUNTIME_DIR="+s.runtimeDir, raceEnv())
	return start(t, cmd)
}

// startLines waits for the broker's first two log lines (or its exit) and
// returns them.
func startLines(t *testing.T, r *running) (string, string) {
	t.Helper()
	systemdtest.Eventually(t, 20*time.Second, "the broker's first log lines", func() bool {
		return strings.Count(r.output.String(), "\n") >= 2 || r.exited()
	})
	lines := strings.SplitN(r.output.String(), "\n", 3)
	if len(lines) < 3 {
		t.Fatalf("the broker exited (%v) before logging two lines:\n%s", r.err, r.output)
	}
	return lines[0], lines[1]
}

// startServing starts the broker and checks that it says which zsm it is,
// then that it bound the sockets itself.
func (s *selfBoundSite) startServing(t *testing.T) *running {
	t.Helper()
	r := s.serve(t)
	first, second := startLines(t, r)
	if r.exited() {
		t.Fatalf("zsm serve exited (%v):\n%s", r.err, r.output)
	}
	if !strings.Contains(first, "zsm starting") || !strings.Contains(first, "version=") {
		t.Errorf("first log line %q; want it to say zsm starting, with its version", first)
	}
	if !regexp.MustCompile(`\bbound\b`).MatchString(second) || strings.Contains(second, "systemd passed") {
		t.Errorf("second log line %q; want it to say the broker bound the sockets itself", second)
	}
	return r
}

// stop sends SIGTERM and expects exit status 0 and the unix socket removed.
func (s *selfBoundSite) stop(t *testing.T, r *running) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := r.wait(t, 45*time.Second); code != 0 {
		t.Errorf("zsm serve exited with status %d after SIGTERM, want 0; output:\n%s", code, r.output)
	}
	if _, err := os.Lstat(s.sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unix socket %s after the broker exited: %v; want it removed", s.sock, err)
	}
}

func expectHello(t *testing.T, network, addr string) {
	t.Helper()
	code, body, err := get(network, addr)
	if err != nil || code != 200 || body != "hello\n" {
		t.Errorf("GET over %s %s: %d %q %v; want 200 \"hello\\n\"", network, addr, code, body, err)
	}
}

// TestSelfBound: `zsm serve` off systemd binds the site's sockets itself,
// serves both, and on SIGTERM exits 0 leaving no socket file and no worker;
// it replaces a stale unix socket file but never a live one; and when it is
// killed outright its workers die with it.
func TestSelfBound(t *testing.T) {
	t.Run("serves and stops cleanly", func(t *testing.T) {
		s := newSelfBoundSite(t, "handoff")
		r := s.startServing(t)
		expectHello(t, "tcp", s.tcp)
		expectHello(t, "unix", s.sock)
		fi, err := os.Lstat(s.sock)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v; want a socket with mode 0600", s.sock, fi.Mode())
		}

		hello := realPath(t, helloWorker(t, s.bin))
		workers := children(t, r.cmd.Process.Pid)
		if len(workers) == 0 {
			t.Fatal("the broker has no worker process after serving two requests")
		}
		for _, w := range workers {
			if exe := w.exe(); exe != hello {
				t.Errorf("the broker's child %d runs %q; want the hello worker %q", w.pid, exe, hello)
			}
		}
		t.Logf("workers before SIGTERM: %v", workers)

		s.stop(t, r)
		// The broker exits only once it has waited for its workers.
		for _, w := range workers {
			if w.alive() {
				t.Errorf("worker %d still runs after the broker exited", w.pid)
			}
		}
		if left := withEnv(t, "XDG_RUNTIME_DIR="+s.runtimeDir); len(left) > 0 {
			t.Errorf("processes of the site still run after the broker exited: %v", left)
		}
		if c, err := net.DialTimeout("tcp", s.tcp, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after the broker exited", s.tcp)
		}
	})

	t.Run("stale socket file replaced", func(t *testing.T) {
		s := newSelfBoundSite(t, "handoff")
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: s.sock, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		l.SetUnlinkOnClose(false)
		l.Close()
		if c, err := net.Dial("unix", s.sock); !errors.Is(err, syscall.ECONNREFUSED) {
			if err == nil {
				c.Close()
			}
			t.Fatalf("dialing the stale socket %s: %v; want connection refused", s.sock, err)
		}

		r := s.startServing(t)
		expectHello(t, "unix", s.sock)
		s.stop(t, r)
	})

	t.Run("live socket kept", func(t *testing.T) {
		s := newSelfBoundSite(t, "handoff")
		l, err := net.Listen("unix", s.sock)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()

		r := s.serve(t)
		if code := r.wait(t, 15*time.Second); code == 0 {
			t.Fatalf("zsm serve exited 0 with a live listener on %s; want a failure. Output:\n%s", s.sock, r.output)
		}
		out := r.output.String()
		if !strings.Contains(out, s.sock) || !regexp.MustCompile(`(?i)in use|live`).MatchString(out) {
			t.Errorf("zsm serve's error does not say that the path %s is in use:\n%s", s.sock, out)
		}
		// The other listener keeps its socket.
		c, err := net.DialTimeout("unix", s.sock, 5*time.Second)
		if err != nil {
			t.Fatalf("the live listener's socket no longer works after zsm serve gave up: %v", err)
		}
		c.Close()
	})

	// In listen mode the workers hold the listening sockets and have no
	// channel to the broker that would end: only the parent-death signal the
	// broker asks the kernel for stops them when it is killed outright.
	t.Run("SIGKILL takes the workers along", func(t *testing.T) {
		s := newSelfBoundSite(t, "listen")
		r := s.startServing(t)
		expectHello(t, "tcp", s.tcp)
		workers := children(t, r.cmd.Process.Pid)
		if len(workers) == 0 {
			t.Fatal("the broker has no worker process after serving a request")
		}
		if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if code := r.wait(t, 10*time.Second); code != 128+int(syscall.SIGKILL) {
			t.Fatalf("zsm serve exit status %d after SIGKILL", code)
		}
		systemdtest.Eventually(t, 10*time.Second, fmt.Sprintf("workers %v to die with the broker", workers), func() bool {
			for _, w := range workers {
				if w.alive() {
					return false
				}
			}
			return true
		})
	})
}
