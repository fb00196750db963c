package nosystemd_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/internal/loadgen"
	"github.com/zsm-dev/zsm/internal/status"
)

// The rc script zsmgen writes, as sysvinit or OpenRC runs it: start, serve,
// reload under load without a failure, status, stop, a stale pid file, a
// double start.
func TestRCScript(t *testing.T) {
	h := newHost(t, "rcsite", true)
	script := h.rcScript()
	rc := func(cmd string) (string, int) {
		t.Helper()
		return h.run(script, cmd)
	}
	expect := func(cmd string, code int, says string) string {
		t.Helper()
		out, got := rc(cmd)
		if got != code || !strings.Contains(out, says) {
			t.Fatalf("%s %s: exit %d, said %q; want exit %d saying %q", filepath.Base(script), cmd, got, out, code, says)
		}
		return out
	}

	expect("status", 3, "not running")
	expect("start", 0, "")
	pid := h.brokerPid()
	if pid == 0 || !alive(pid) {
		t.Fatalf("after start: pid file names %d", pid)
	}
	if owner := uidOf(t, pid); owner != h.uid {
		t.Errorf("the broker runs as uid %d; want %s (%d)", owner, h.user, h.uid)
	}
	h.serves()
	expect("status", 0, "running (pid "+strconv.Itoa(pid)+")")

	// A second start is no second broker.
	expect("start", 0, "already running")
	if p := h.brokerPid(); p != pid || !alive(pid) {
		t.Fatalf("after a second start: pid %d (alive %v); want %d", p, alive(pid), pid)
	}
	// Nor is a broker started by hand on the same pid file.
	said, code := h.runAs(filepath.Join(h.bin, "zsm"), "serve", "--site", h.site, "--config", h.config, "--pidfile", h.pidfile)
	if code != 1 || !strings.Contains(said, "a broker already runs (pid "+strconv.Itoa(pid)+")") {
		t.Errorf("zsm serve on a held pid file: exit %d, %q", code, said)
	}
	// With --if-stopped, cron's watchdog line, that is success, quietly.
	said, code = h.runAs(filepath.Join(h.bin, "zsm"), "serve", "--site", h.site, "--config", h.config, "--pidfile", h.pidfile, "--if-stopped", "--daemon")
	if code != 0 || said != "" {
		t.Errorf("zsm serve --if-stopped with a broker running: exit %d, %q", code, said)
	}

	// Reloads under load: every request served.
	load := loadgen.Start(h.addr, 4, time.Minute)
	const reloads = 10
	for i := 1; i <= reloads; i++ {
		expect("reload", 0, "")
		eventually(t, wait, "reload "+strconv.Itoa(i)+" in the log", func() bool {
			return h.logCount("msg=reloaded") >= i
		})
	}
	ok, failures := load.Stop()
	if len(failures) > 0 || ok == 0 {
		t.Errorf("across %d reloads: %s", reloads, loadgen.Summary(ok, failures))
	}
	t.Logf("across %d reloads: %s", reloads, loadgen.Summary(ok, failures))
	if p := h.brokerPid(); p != pid {
		t.Errorf("the pid file changed across reloads: %d, was %d", p, pid)
	}
	// The site's status page runs without systemd too.
	st, err := h.status()
	if err != nil || st.Site != h.site || st.State != "running" || st.Generation != reloads || st.Served == 0 || st.Failed != 0 {
		t.Errorf("status page: %+v, %v; want %s running, generation %d, connections served, none failed", st, err, h.site, reloads)
	}

	// logrotate: move the log away, SIGUSR1, and the broker writes a new one.
	if err := os.Rename(h.log, h.log+".1"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, "the broker to reopen its log file", func() bool {
		return h.logCount("reopened the log file") == 1
	})
	h.serves()

	expect("stop", 0, "")
	if alive(pid) {
		t.Errorf("broker %d still runs after stop", pid)
	}
	if _, err := os.Stat(h.pidfile); !os.IsNotExist(err) {
		t.Errorf("pid file after stop: %v", err)
	}
	if _, _, err := h.get(); err == nil {
		t.Error("the site still answers after stop")
	}
	expect("status", 3, "not running")
	expect("stop", 0, "")
	expect("reload", 7, "")

	// A broker that died without cleaning up (a kill -9, a power cut).
	if err := os.WriteFile(h.pidfile, []byte(strconv.Itoa(deadPid(t))+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chown(h.pidfile, h.uid, -1) // the broker's, as it wrote it
	expect("status", 1, "")
	expect("start", 0, "")
	pid2 := h.brokerPid()
	if pid2 == 0 || pid2 == pid || !alive(pid2) {
		t.Fatalf("start over a stale pid file: pid file names %d", pid2)
	}
	h.serves()
	if h.logCount("replaced a stale pid file") != 1 {
		t.Error("the log does not say that a stale pid file was replaced")
	}
	expect("restart", 0, "")
	pid3 := h.brokerPid()
	if pid3 == pid2 || alive(pid2) || !alive(pid3) {
		t.Fatalf("restart: pid %d (old %d alive %v)", pid3, pid2, alive(pid2))
	}
	h.serves()
	expect("stop", 0, "")
	if alive(pid3) {
		t.Errorf("broker %d still runs after stop", pid3)
	}
	expect("bogus", 2, "")
}

func uidOf(t *testing.T, pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.Lines(string(b)) {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "Uid:" {
			uid, _ := strconv.Atoi(f[1])
			return uid
		}
	}
	t.Fatalf("no Uid in /proc/%d/status", pid)
	return -1
}

// zsm status, zsm reload and zsm drain reach a broker that bound its own
// sockets on a host with no session bus, through its control socket.
func TestCommandsWithoutBus(t *testing.T) {
	h := newHost(t, "cmds", true)
	script := h.rcScript()
	if said, code := h.run(script, "start"); code != 0 {
		t.Fatalf("start: exit %d: %s", code, said)
	}
	defer h.run(script, "stop")
	h.serves()
	zsm := func(args ...string) string {
		t.Helper()
		said, code := h.runAs(filepath.Join(h.bin, "zsm"), args...)
		if code != 0 {
			t.Fatalf("zsm %s: exit %d: %s", strings.Join(args, " "), code, said)
		}
		return said
	}
	jsonStatus := func() status.Site {
		t.Helper()
		var sites []status.Site
		said := zsm("status", "--json", h.site)
		if err := json.Unmarshal([]byte(said), &sites); err != nil || len(sites) != 1 {
			t.Fatalf("zsm status --json %s: %v\n%s", h.site, err, said)
		}
		return sites[0]
	}

	if said := zsm("status"); !regexp.MustCompile(`(?m)^` + h.site + ` +handoff +running `).MatchString(said) {
		t.Errorf("zsm status lists no running %s:\n%s", h.site, said)
	}
	if st := jsonStatus(); st.Site != h.site || st.State != "running" || st.Served == 0 || len(st.Workers) == 0 {
		t.Errorf("zsm status --json: %+v", st)
	}
	zsm("reload", "--wait", "--site", h.site)
	if st := jsonStatus(); st.Generation != 1 {
		t.Errorf("after zsm reload --wait: generation %d, want 1", st.Generation)
	}
	zsm("drain", h.site)
	eventually(t, wait, "no worker after zsm drain", func() bool { return len(jsonStatus().Workers) == 0 })
	h.serves() // the next connection starts the pool again
	if said, code := h.runAs(filepath.Join(h.bin, "zsm"), "drain", "no-such-site"); code != 1 || !strings.Contains(said, "no broker is running") {
		t.Errorf("zsm drain of a site with no broker: exit %d, %q", code, said)
	}
}

// rcScript writes the site's rc script with zsmgen and returns its path.
func (h *host) rcScript() string {
	h.t.Helper()
	out := filepath.Join(h.dir, "init.d")
	h.zsmgen("rc", "--user", h.user, "--zsm", filepath.Join(h.bin, "zsm"), "--pidfile-dir", filepath.Dir(h.pidfile),
		"--log", h.log, "--out", out, h.config)
	return filepath.Join(out, "zsm-"+h.site)
}
