package test

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/test/systemdtest"
)

func TestMain(m *testing.M) { systemdtest.Main(m) }

// uniqueName returns prefix-<random hex>: unit names and journal identifiers
// that no other test (or earlier run) uses.
func uniqueName(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + "-" + hex.EncodeToString(b)
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// journalMessages returns the MESSAGE fields of `journalctl -o json ARGS...`.
func journalMessages(t *testing.T, args ...string) []string {
	t.Helper()
	out := systemdtest.Journal(t, append([]string{"-o", "json"}, args...)...)
	var msgs []string
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e struct{ MESSAGE any }
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("journal entry %q: %v", sc.Text(), err)
		}
		if s, ok := e.MESSAGE.(string); ok {
			msgs = append(msgs, s)
		}
	}
	return msgs
}

func realPath(t *testing.T, path string) string {
	t.Helper()
	p, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestHarness proves that each part of test/with-systemd is real: the user
// manager, the session bus, journald, socket activation and unit files that
// the manager reads from a test's own XDG_CONFIG_HOME.
func TestHarness(t *testing.T) {
	systemdtest.Require(t)

	t.Run("manager", func(t *testing.T) {
		out, err := exec.Command("systemctl", "--user", "is-system-running").Output()
		state := strings.TrimSpace(string(out))
		if state != "running" && state != "degraded" {
			t.Fatalf("systemctl --user is-system-running = %q (%v), want running or degraded", state, err)
		}
		if got := systemdtest.Systemctl(t, "show", "-p", "Version", "--value"); strings.TrimSpace(got) == "" {
			t.Error("user manager reports no version")
		}
		// Isolated from the machine: own pid namespace, private home.
		init, err := os.ReadFile("/proc/1/cmdline")
		if err != nil || !strings.Contains(string(init), "with-systemd") {
			t.Errorf("pid 1 is %q (%v), want the harness", init, err)
		}
		for _, v := range []string{"HOME", "XDG_CONFIG_HOME"} {
			if dir := os.Getenv("ZSM_HARNESS_DIR"); !strings.HasPrefix(os.Getenv(v), dir+"/") {
				t.Errorf("$%s = %q, want it below the harness dir %q", v, os.Getenv(v), dir)
			}
		}
	})

	t.Run("bus", func(t *testing.T) {
		out, err := exec.Command("busctl", "--user", "list", "--no-pager").CombinedOutput()
		if err != nil {
			t.Fatalf("busctl --user list: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "org.freedesktop.systemd1") {
			t.Errorf("busctl --user list has no org.freedesktop.systemd1:\n%s", out)
		}
	})

	t.Run("journal", func(t *testing.T) {
		id := uniqueName(t, "zsmtest")
		msg := "hello from " + id
		cat := exec.Command("systemd-cat", "-t", id)
		cat.Stdin = strings.NewReader(msg + "\n")
		if out, err := cat.CombinedOutput(); err != nil {
			t.Fatalf("systemd-cat: %v\n%s", err, out)
		}
		systemdtest.Eventually(t, 10*time.Second, "the line in the journal", func() bool {
			return contains(journalMessages(t, "-t", id), msg)
		})
	})

	var unitDirs []string // real paths, one per test using UnitDir
	t.Run("socket activation", func(t *testing.T) {
		dir := systemdtest.UnitDir(t)
		name := uniqueName(t, "zsmtest-echo")
		sock := filepath.Join(t.TempDir(), "echo.sock")
		writeFile(t, filepath.Join(dir, name+".socket"),
			"[Socket]\nListenStream="+sock+"\nAccept=yes\n")
		writeFile(t, filepath.Join(dir, name+"@.service"),
			"[Service]\nExecStart=/bin/echo hi "+name+"\nStandardInput=socket\nStandardOutput=socket\n")
		systemdtest.Systemctl(t, "daemon-reload")
		systemdtest.Systemctl(t, "start", name+".socket")
		t.Cleanup(func() { systemdtest.Systemctl(t, "stop", name+".socket") })

		frag := systemdtest.Systemctl(t, "show", "-p", "FragmentPath", "--value", name+".socket")
		if want := filepath.Join(dir, name+".socket"); strings.TrimSpace(frag) != want {
			t.Errorf("FragmentPath = %q, want %q", frag, want)
		}
		unitDirs = append(unitDirs, realPath(t, dir))

		conn, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(conn)
		if err != nil {
			t.Fatal(err)
		}
		if want := "hi " + name + "\n"; string(got) != want {
			t.Errorf("socket-activated service said %q, want %q", got, want)
		}
	})

	t.Run("user unit journal", func(t *testing.T) {
		dir := systemdtest.UnitDir(t)
		name := uniqueName(t, "zsmtest-log")
		msg := "logged by " + name
		writeFile(t, filepath.Join(dir, name+".service"),
			"[Service]\nType=oneshot\nExecStart=/bin/echo "+msg+"\n")
		systemdtest.Systemctl(t, "daemon-reload")
		systemdtest.Systemctl(t, "start", name+".service") // returns when the oneshot is done
		unitDirs = append(unitDirs, realPath(t, dir))
		systemdtest.Eventually(t, 10*time.Second, "the unit's output under --user-unit", func() bool {
			return contains(journalMessages(t, "--user-unit="+name+".service"), msg)
		})
	})

	// Each test got its own directory, none of them the harness's default.
	if len(unitDirs) != 2 || unitDirs[0] == unitDirs[1] ||
		strings.HasPrefix(unitDirs[0], os.Getenv("ZSM_HARNESS_DIR")+"/") {
		t.Errorf("unit dirs of two tests: %q, want two different private ones", unitDirs)
	}

	t.Run("unit dir cleanup", func(t *testing.T) {
		name := uniqueName(t, "zsmtest-left")
		t.Run("leaves a unit running", func(t *testing.T) {
			dir := systemdtest.UnitDir(t)
			writeFile(t, filepath.Join(dir, name+".service"), "[Service]\nExecStart=/bin/sleep infinity\n")
			systemdtest.Systemctl(t, "daemon-reload")
			systemdtest.Systemctl(t, "start", name+".service")
		})
		out := systemdtest.Systemctl(t, "show", "-p", "ActiveState,LoadState", name+".service")
		for _, want := range []string{"ActiveState=inactive", "LoadState=not-found"} {
			if !contains(strings.Fields(out), want) {
				t.Errorf("after the test that started it:\n%s\nwant %s", out, want)
			}
		}
	})
}
