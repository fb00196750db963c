package test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/test/systemdtest"
)

// demoAddr is where contrib/examples/hello.hcl, the demo's site, listens.
const demoAddr = "127.0.0.1:8080"

var made struct {
	once sync.Once
	root string
	err  error
}

// makeBuild runs `make build` at the repository root, once per test binary,
// and returns the root: contrib/demo.sh runs bin/zsm, bin/zsmgen and
// bin/hello from there, as after the README's `make demo`. It skips the test
// where the demo's tools (make, curl) are missing.
func makeBuild(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not found: the demo needs `make build` first")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not found: the demo makes its requests with it")
	}
	made.once.Do(func() {
		if made.root, made.err = filepath.Abs(".."); made.err != nil {
			return
		}
		out, err := runBounded(5*time.Minute, made.root, os.Environ(), "make", "build")
		if err != nil {
			made.err = errors.New("make build: " + err.Error() + "\n" + out)
		}
	})
	if made.err != nil {
		t.Fatal(made.err)
	}
	return made.root
}

// requireDemoPort skips the test when another process holds the demo's
// address: the host's network is shared, even inside the harness.
func requireDemoPort(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp", demoAddr)
	if err != nil {
		t.Skipf("the demo's address %s is taken on this host: %v", demoAddr, err)
	}
	l.Close()
}

// hasLine reports whether out holds line as a whole line.
func hasLine(out, line string) bool {
	return slices.Contains(strings.Split(out, "\n"), line)
}

// TestDemoSystemd: the README's demo (`make demo`, here with
// ZSM_DEMO_ONESHOT=1) takes the systemd branch when a user manager runs:
// it writes the units into the user's unit directory, enables
// zsm@hello.socket, and the first request, started through the socket,
// prints hello.
func TestDemoSystemd(t *testing.T) {
	systemdtest.Require(t)
	unitDir := systemdtest.UnitDir(t)
	root := makeBuild(t)
	requireDemoPort(t)
	t.Cleanup(func() {
		// The demo leaves the site enabled for the user to play with.
		if showValue(t, "zsm@hello.socket", "LoadState") != "loaded" {
			return
		}
		systemdtest.Systemctl(t, "disable", "--now", "zsm@hello.socket", "zsm@hello.service")
		if t.Failed() {
			t.Logf("journal of zsm@hello.service:\n%s", systemdtest.Journal(t, "--user-unit=zsm@hello.service"))
		}
	})

	out, err := runBounded(time.Minute, root, append(os.Environ(), "ZSM_DEMO_ONESHOT=1"), "contrib/demo.sh")
	if err != nil {
		t.Fatalf("contrib/demo.sh: %v\n%s", err, out)
	}
	t.Logf("contrib/demo.sh:\n%s", out)
	if !strings.Contains(out, "zsm@hello.socket is listening") || !hasLine(out, "hello") {
		t.Errorf("contrib/demo.sh did not take the systemd branch and print the response \"hello\"")
	}
	if got := strings.TrimSpace(systemdtest.Systemctl(t, "is-enabled", "zsm@hello.socket")); got != "enabled" {
		t.Errorf("zsm@hello.socket is %q after the demo; want enabled", got)
	}
	// The manager names the unit dir through the symlink or by its target.
	dropIns := showValue(t, "zsm@hello.service", "DropInPaths")
	if !strings.Contains(dropIns, unitDir+"/zsm@hello.service.d/") &&
		!strings.Contains(dropIns, realPath(t, unitDir)+"/zsm@hello.service.d/") {
		t.Errorf("zsm@hello.service drop-ins %q; want them in the user's unit dir %s", dropIns, unitDir)
	}
	if st := unitState(t, "zsm@hello.service"); st != "active" {
		t.Errorf("zsm@hello.service is %s after the demo's request; want active", st)
	}
	expectHello(t, "tcp", demoAddr)
}

// TestDemoSelfBound: on a fresh machine (no user manager, no session bus,
// not even XDG_RUNTIME_DIR) the demo runs the broker bound to its own
// sockets, in the private fallback directory zsm makes, prints hello, and
// with ZSM_DEMO_ONESHOT=1 stops it again, leaving no process, socket file
// or listening port behind.
func TestDemoSelfBound(t *testing.T) {
	root := makeBuild(t)
	requireDemoPort(t)
	tmp := t.TempDir()
	runtimeDir := filepath.Join(tmp, fmt.Sprintf("zsm-%d", os.Getuid()))
	t.Cleanup(func() {
		for _, p := range withEnv(t, "TMPDIR="+tmp) {
			p.kill()
		}
	})
	env := envWithout([]string{
		"XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS", "TMPDIR",
		"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "LISTEN_PIDFDID", "NOTIFY_SOCKET",
	}, "TMPDIR="+tmp, "ZSM_DEMO_ONESHOT=1")

	out, err := runBounded(time.Minute, root, env, "contrib/demo.sh")
	if err != nil {
		t.Fatalf("contrib/demo.sh: %v\n%s", err, out)
	}
	t.Logf("contrib/demo.sh:\n%s", out)
	if !strings.Contains(out, "No systemd user manager here") || !hasLine(out, "hello") {
		t.Errorf("contrib/demo.sh did not take the self-bound branch and print the response \"hello\"")
	}
	// The demo stopped its broker (SIGTERM, then wait) before exiting.
	if left := withEnv(t, "TMPDIR="+tmp); len(left) > 0 {
		t.Errorf("processes of the demo still run after it exited: %v", left)
	}
	if _, err := os.Lstat(filepath.Join(runtimeDir, "hello.sock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the demo's unix socket after it exited: %v; want it removed", err)
	}
	l, err := net.Listen("tcp", demoAddr)
	if err != nil {
		t.Errorf("%s is still taken after the demo exited: %v", demoAddr, err)
	} else {
		l.Close()
	}
}
