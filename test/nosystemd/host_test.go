package nosystemd_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/internal/freeport"
	"github.com/zsm-dev/zsm/internal/loadgen"
	"github.com/zsm-dev/zsm/internal/status"
	"github.com/zsm-dev/zsm/test/systemdtest"
)

func TestMain(m *testing.M) { systemdtest.MainWithout(m) }

// host is one site's files as an admin would lay them out, for a user who
// runs the broker: as root, the unprivileged "nobody" (so that the scripts'
// su is exercised), otherwise the user running the test.
type host struct {
	t          *testing.T
	bin        string // zsm, zsmgen, hello; zsm is also in dir
	dir        string
	user       string
	uid        int
	site       string
	config     string
	addr       string
	statusAddr string // the site's own status page
	pidfile    string
	log        string
	env        []string
	brokers    []int // every broker pid seen, killed at the end if still alive
}

// newHost lays out site; asNobody runs its broker as "nobody" when the test
// runs as root.
func newHost(t *testing.T, site string, asNobody bool) *host {
	t.Helper()
	bin := systemdtest.BuildBinaries(t)
	h := &host{t: t, bin: bin, site: site, user: currentUser(t)}
	if os.Geteuid() == 0 && asNobody {
		if u, err := user.Lookup("nobody"); err == nil {
			h.user = u.Username
		}
	}
	u, err := user.Lookup(h.user)
	if err != nil {
		t.Fatal(err)
	}
	h.uid, _ = strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)

	// A short directory: an inittab line has at most 127 characters.
	dir, err := os.MkdirTemp("", "z")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	h.dir = dir
	// The broker's user reads the binaries and the config, and writes its
	// pid file, log and runtime directory ($TMPDIR/zsm-UID).
	for _, d := range []string{bin, h.dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"run", "log", "tmp"} {
		p := filepath.Join(h.dir, d)
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, h.uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(h.dir, "tmp"), 0o777|os.ModeSticky)
	if err := os.Symlink(filepath.Join(bin, "zsm"), filepath.Join(h.dir, "zsm")); err != nil {
		t.Fatal(err)
	}
	h.addr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	h.statusAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	h.pidfile = filepath.Join(h.dir, "run", site+".pid")
	h.log = filepath.Join(h.dir, "log", site+".log")
	h.config = filepath.Join(h.dir, "s.hcl")
	cfg := fmt.Sprintf(`site %q {
  listen   = [%q]
  command  = [%q]
  protocol = "http"
  pool {
    min_idle = 1
    max      = 2
  }
  timeouts {
    stop = "5s"
  }
  status {
    listen = %q
  }
}
`, site, h.addr, filepath.Join(bin, "hello"), h.statusAddr)
	if err := os.WriteFile(h.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// A host without systemd: nothing of it in the environment.
	h.env = []string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "TMPDIR=" + filepath.Join(h.dir, "tmp"), "LANG=C"}
	t.Cleanup(h.killLeftovers)
	return h
}

func currentUser(t *testing.T) string {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

// zsmgen runs zsmgen with args and returns its stdout.
func (h *host) zsmgen(args ...string) string {
	h.t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(filepath.Join(h.bin, "zsmgen"), args...)
	cmd.Stdout, cmd.Stderr, cmd.Env = &out, &errb, h.env
	if err := cmd.Run(); err != nil {
		h.t.Fatalf("zsmgen %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// run runs a command in the host's environment and returns its combined
// output and exit status.
func (h *host) run(name string, args ...string) (string, int) {
	h.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = h.env
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		h.t.Fatalf("%s: %v", name, err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// runAs runs a command as the broker's user, through runuser when that is
// not the user running the test.
func (h *host) runAs(name string, args ...string) (string, int) {
	h.t.Helper()
	if h.user != currentUser(h.t) {
		return h.run("runuser", append([]string{"-u", h.user, "--", name}, args...)...)
	}
	return h.run(name, args...)
}

// brokerPid returns the pid in the pid file, 0 when there is none.
func (h *host) brokerPid() int {
	b, err := os.ReadFile(h.pidfile)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid > 0 {
		h.remember(pid)
	}
	return pid
}

func (h *host) remember(pid int) {
	for _, p := range h.brokers {
		if p == pid {
			return
		}
	}
	h.brokers = append(h.brokers, pid)
}

// killLeftovers ends the brokers a failed test left running, by pid, and
// their worker process groups die with them (PDEATHSIG).
func (h *host) killLeftovers() {
	for _, pid := range h.brokers {
		if alive(pid) && isZsm(pid) {
			h.t.Logf("killing leftover broker %d", pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// get does one request and returns the status and the answering worker.
func (h *host) get() (int, string, error) {
	return loadgen.Get("tcp", h.addr, "/")
}

// serves checks that the site answers "hello".
func (h *host) serves() {
	h.t.Helper()
	code, body, err := h.get()
	if err != nil || code != 200 || body != "hello\n" {
		h.t.Fatalf("GET %s: %d %q %v", h.addr, code, body, err)
	}
}

// status reads the site's status page as JSON.
func (h *host) status() (status.Site, error) {
	resp, err := http.Get("http://" + h.statusAddr + "/status.json")
	if err != nil {
		return status.Site{}, err
	}
	defer resp.Body.Close()
	var sites []status.Site
	if err := json.NewDecoder(resp.Body).Decode(&sites); err != nil {
		return status.Site{}, err
	}
	if len(sites) != 1 {
		return status.Site{}, fmt.Errorf("status page shows %d sites, want 1", len(sites))
	}
	return sites[0], nil
}

// logCount counts the log file's lines containing s.
func (h *host) logCount(s string) int {
	b, _ := os.ReadFile(h.log)
	return bytes.Count(b, []byte(s))
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

func isZsm(pid int) bool {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return bytes.Contains(b, []byte("zsm"))
}

func freePort(t *testing.T) int {
	t.Helper()
	p, err := freeport.One()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// deadPid returns the pid of a process that has exited and been reaped.
func deadPid(t *testing.T) int {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

var eventually = systemdtest.Eventually

const wait = 20 * time.Second
