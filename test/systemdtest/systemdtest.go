package systemdtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Environment set by test/with-systemd.
const (
	// envHarness is "1" inside the harness.
	envHarness = "ZSM_HARNESS"
	// envConfigHome names the symlink the user manager has as its
	// XDG_CONFIG_HOME; UnitDir points it at a test's directory.
	envConfigHome = "ZSM_HARNESS_CONFIG_HOME"
	// envDir is the harness's temp dir, removed when the harness exits.
	envDir = "ZSM_HARNESS_DIR"
	// envScript overrides where Main looks for the harness script.
	envScript = "ZSM_WITH_SYSTEMD"
)

const (
	// skipReason is what tests that need the harness say when skipping.
	skipReason = "needs the real-systemd harness: run as root, see test/with-systemd"
	// exitSkip is the harness's exit status when it cannot run here.
	exitSkip = 77
	// scriptPath is the harness script, relative to the module root.
	scriptPath = "test/with-systemd"
	// journalDir is the harness journald's storage (Storage=volatile on a
	// tmpfs over /run/log): reading only it keeps the host's
	// /var/log/journal out of every query.
	journalDir = "/run/log/journal"
	// cmdTimeout bounds every systemctl and journalctl call.
	cmdTimeout = time.Minute
	// pollInterval is how often Eventually checks its condition.
	pollInterval = 20 * time.Millisecond
)

// Main is for a TestMain. Run as root outside the harness, it re-executes the
// test binary under test/with-systemd (found at test/with-systemd below the
// directory holding go.mod, walking up from the working directory, or at
// $ZSM_WITH_SYSTEMD), streams its output and exits with its status. When the
// harness cannot run here (not root, unshare refused: the harness exits 77),
// it runs the tests directly and those that call [Require] skip. Main does not
// return.
func Main(m *testing.M) {
	if os.Getenv(envHarness) == "1" || os.Geteuid() != 0 {
		os.Exit(runTests(m))
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		os.Exit(runTests(m))
	}
	code, err := reexec()
	if err != nil {
		fmt.Fprintf(os.Stderr, "systemdtest: %v\n", err)
		os.Exit(1)
	}
	if code == exitSkip {
		// The harness said why on stderr; run without it so Require skips.
		os.Exit(runTests(m))
	}
	os.Exit(code)
}

// MainWithout is for the TestMain of tests of hosts without systemd: it
// runs the tests directly, never in the harness, then removes what
// [BuildBinaries] built. It does not return.
func MainWithout(m *testing.M) { os.Exit(runTests(m)) }

// runTests runs the tests and removes what BuildBinaries built.
func runTests(m *testing.M) int {
	code := m.Run()
	removeBuildDir()
	return code
}

// reexec runs this test binary with its arguments under the harness and
// returns its exit status. Signals are passed on, so that the harness can tear
// down before this process exits.
func reexec() (int, error) {
	root, err := moduleRoot()
	script := os.Getenv(envScript)
	if script == "" {
		if err != nil {
			return 0, fmt.Errorf("finding %s: %w", scriptPath, err)
		}
		script = filepath.Join(root, scriptPath)
	}
	exe, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("finding the test binary: %w", err)
	}
	cmd := exec.Command(script, append([]string{exe}, os.Args[1:]...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// Should this process die anyway (go test's SIGQUIT on a timeout, a
	// SIGKILL), the harness gets SIGTERM and tears down. The signal follows
	// the thread that started the child: keep this goroutine on it.
	runtime.LockOSThread()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting the harness: %w", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	for {
		select {
		case s := <-sigs:
			_ = cmd.Process.Signal(s) // it may have exited meanwhile
		case err := <-waited:
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					return 128 + int(ws.Signal()), nil
				}
				return exit.ExitCode(), nil
			}
			if err != nil {
				return 0, fmt.Errorf("running the harness: %w", err)
			}
			return 0, nil
		}
	}
}

// moduleRoot walks up from the working directory (a package's directory
// under go test) to the directory holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod in the working directory or above")
		}
		dir = parent
	}
}

// Require skips the test unless it runs inside the harness.
func Require(t testing.TB) {
	t.Helper()
	if os.Getenv(envHarness) != "1" {
		t.Skip(skipReason)
	}
}

// Systemctl runs `systemctl --user ARGS...` and returns its standard output.
// It fails the test, showing both outputs, if the command fails.
func Systemctl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := systemctl(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Journal runs `journalctl ARGS...` on the harness's journal and returns its
// standard output. It fails the test, showing both outputs, if the command
// fails.
func Journal(t testing.TB, args ...string) string {
	t.Helper()
	out, err := command("journalctl", append([]string{"--no-pager", "--quiet", "--directory=" + journalDir}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func systemctl(args ...string) (string, error) {
	return command("systemctl", append([]string{"--user", "--no-pager"}, args...)...)
}

// command runs name with args, bounded by cmdTimeout, and returns its
// standard output; the error holds both outputs.
func command(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s: %w\nstdout:\n%s\nstderr:\n%s",
			strings.Join(cmd.Args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.String(), nil
}

// Eventually calls cond until it returns true, at most for timeout, and fails
// the test naming what it waited for if it never does. cond runs on the
// test's goroutine, so it may use [Systemctl] and [Journal].
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if cond() {
		return
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		select {
		case <-deadline.C:
			if cond() {
				return
			}
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
			return
		case <-tick.C:
			if cond() {
				return
			}
		}
	}
}

// UnitDir gives the test a private unit directory that the user manager
// reads, and returns it, created: $XDG_CONFIG_HOME/systemd/user. Write unit
// files and drop-ins there and run `daemon-reload`, as a user would.
//
// XDG_CONFIG_HOME (set with t.Setenv, so not in parallel tests) is the
// harness's $ZSM_HARNESS_CONFIG_HOME, a symlink that UnitDir points at a new
// t.TempDir() for this test: the test, the manager (FragmentPath=, enable
// symlinks) and the units it starts all name the same paths, and they lead to
// this test's files only. When the test ends, units still running from them
// are stopped and the symlink is pointed back.
func UnitDir(t testing.TB) string {
	t.Helper()
	Require(t)
	link := os.Getenv(envConfigHome)
	if link == "" {
		t.Fatalf("UnitDir: %s is not set (is test/with-systemd up to date?)", envConfigHome)
	}
	t.Setenv("XDG_CONFIG_HOME", link)
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, "systemd", "user"), 0o755); err != nil {
		t.Fatal(err)
	}
	prev, err := os.Readlink(link)
	if err != nil {
		t.Fatalf("UnitDir: %v", err)
	}
	if err := repoint(link, home); err != nil {
		t.Fatalf("UnitDir: %v", err)
	}
	t.Cleanup(func() {
		if err := stopUnitsFrom(t, link, home); err != nil {
			t.Error(err)
		}
		if err := repoint(link, prev); err != nil {
			t.Errorf("UnitDir cleanup: %v", err)
			return
		}
		for _, args := range [][]string{{"daemon-reload"}, {"reset-failed"}} {
			if _, err := systemctl(args...); err != nil {
				t.Error(err)
			}
		}
	})
	Systemctl(t, "daemon-reload")
	return filepath.Join(link, "systemd", "user")
}

// repoint atomically makes the symlink link point at target.
func repoint(link, target string) error {
	tmp := link + ".new"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, link)
}

// stopUnitsFrom stops the units still running whose unit file or drop-ins
// live in home (reached through link or directly).
func stopUnitsFrom(t testing.TB, link, home string) error {
	t.Helper()
	prefixes := []string{link + "/", home + "/"}
	if real, err := filepath.EvalSymlinks(home); err == nil {
		prefixes = append(prefixes, real+"/")
	}
	inside := func(path string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(path, p) {
				return true
			}
		}
		return false
	}

	list, err := systemctl("list-units", "--all", "--plain", "--no-legend", "--full")
	if err != nil {
		return err
	}
	var names []string
	for _, line := range strings.Split(list, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == "●" {
			f = f[1:]
		}
		if len(f) > 0 {
			names = append(names, f[0])
		}
	}
	if len(names) == 0 {
		return nil
	}
	show, err := systemctl(append([]string{"show", "-p", "Id,FragmentPath,DropInPaths,ActiveState", "--"}, names...)...)
	if err != nil {
		return err
	}
	var stop []string
	for _, u := range parseShow(show) {
		if u["ActiveState"] == "inactive" || u["ActiveState"] == "failed" {
			continue
		}
		from := inside(u["FragmentPath"])
		for _, p := range strings.Fields(u["DropInPaths"]) {
			from = from || inside(p)
		}
		if from {
			stop = append(stop, u["Id"])
		}
	}
	if len(stop) == 0 {
		return nil
	}
	t.Logf("UnitDir cleanup: stopping %s", strings.Join(stop, " "))
	_, err = systemctl(append([]string{"stop", "--"}, stop...)...)
	return err
}

// parseShow splits `systemctl show` output (KEY=VALUE lines, one blank line
// between units) into one map per unit.
func parseShow(out string) []map[string]string {
	var units []map[string]string
	u := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			if len(u) > 0 {
				units = append(units, u)
				u = map[string]string{}
			}
			continue
		}
		u[k] = v
	}
	if len(u) > 0 {
		units = append(units, u)
	}
	return units
}
