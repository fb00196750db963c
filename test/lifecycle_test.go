package test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/internal/loadgen"
	"github.com/zsm-dev/zsm/test/systemdtest"
)

// Issue 4, "Lifecycle without a dropped connection": reloads, restarts,
// crashes, recycling, stop timeouts and scale to zero, each through the real
// user manager and, where it matters, under honest load (internal/loadgen:
// raw connections, no retries, every error and non-200 a failure).

const (
	// loadClients is how many loadgen clients run under load: the even
	// ones keep their connection alive, the odd ones open one per request.
	loadClients = 6
	// newConnClients is how many of them open a connection per request.
	newConnClients = loadClients / 2
	// loadLimit bounds a load's run should the test hang.
	loadLimit = 2 * time.Minute
	// between is how many requests must succeed between two lifecycle
	// events (reloads, restarts, kills), so that each one meets traffic.
	between = 50
	// progressTimeout bounds the wait for those requests.
	progressTimeout = 30 * time.Second
)

var modes = []string{"handoff", "listen", "proxy"}

// modeSite enables a site answering "hello" over HTTP in mode, with a pool
// of two workers (in proxy mode two unmodified servers, one per backend
// port), extra lines added to the site block. It returns the site's name,
// its config file and its address.
func modeSite(t *testing.T, prefix, mode, extra string) (name, cfg, addr string) {
	t.Helper()
	hello := helloWorker(t, systemdtest.BuildBinaries(t))
	addr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	block := fmt.Sprintf("  command  = [%q]\n  pool {\n    min_idle = 2\n    max      = 2\n  }\n", hello)
	if mode == "proxy" {
		ports := freePorts(t, 2)
		block = fmt.Sprintf("  command  = [%q, \"-addr\", \"127.0.0.1:{port}\"]\n  backend {\n    address = \"127.0.0.1:{port}\"\n    ports   = \"%d,%d\"\n  }\n",
			hello, ports[0], ports[1])
	}
	name, cfg = enableSite(t, prefix+"-"+mode, `site "%s" {
  listen   = ["`+addr+`"]
  mode     = "`+mode+`"
  protocol = "http"
`+block+extra+`}
`)
	return name, cfg, addr
}

// load is loadgen's load for one test: stopped once, by stop or when the
// test ends.
type load struct {
	*loadgen.Load
	once     sync.Once
	ok       int64
	failures []loadgen.Failure
}

// startLoad runs loadClients clients against addr until stop (or the end
// of the test).
func startLoad(t *testing.T, addr string) *load {
	t.Helper()
	l := &load{Load: loadgen.Start(addr, loadClients, loadLimit)}
	t.Cleanup(func() { l.stop() })
	return l
}

// stop ends the load and returns the requests served and the failures.
func (l *load) stop() (int64, []loadgen.Failure) {
	l.once.Do(func() { l.ok, l.failures = l.Load.Stop() })
	return l.ok, l.failures
}

// progress waits until at least n more requests have been served.
func (l *load) progress(t *testing.T, n int64) {
	t.Helper()
	want := l.OK() + n
	systemdtest.Eventually(t, progressTimeout, fmt.Sprintf("%d requests served under load (at %d)", n, l.OK()), func() bool {
		return l.OK() >= want
	})
}

// failureLines lists failures for an error message, at most the first 10.
func failureLines(failures []loadgen.Failure) string {
	var b strings.Builder
	for i, f := range failures {
		if i == 10 {
			fmt.Fprintf(&b, "\n  ... and %d more", len(failures)-i)
			break
		}
		fmt.Fprintf(&b, "\n  %s: last pid %d: %v", f.At.Format("15:04:05.000"), f.LastPid, f.Err)
	}
	return b.String()
}

// workerPids returns the processes of the unit's cgroup besides its main
// process (the broker): the workers and whatever they started.
func workerPids(t *testing.T, unit string) []int {
	t.Helper()
	broker := mainPID(t, unit)
	var pids []int
	for _, pid := range cgroupProcs(t, unit) {
		if pid != broker.pid {
			pids = append(pids, pid)
		}
	}
	return pids
}

// getWorker sends one request on a new connection, as get does, and
// returns the status and the worker that answered (X-Worker-Pid).
func getWorker(addr string) (code, pid int, err error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: zsm\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return resp.StatusCode, 0, err
	}
	pid, _ = strconv.Atoi(resp.Header.Get("X-Worker-Pid"))
	return resp.StatusCode, pid, nil
}

// reloadedRE matches the broker's journal line for a finished reload.
var reloadedRE = regexp.MustCompile(`(?:^|\bmsg=)reloaded\b.*\bgeneration=(\d+)\b`)

// reloadedGenerations returns the generations the unit's journal says
// were reloaded to.
func reloadedGenerations(t *testing.T, unit string) []int {
	t.Helper()
	var gens []int
	for _, m := range journalMessages(t, "--user-unit="+unit) {
		if sm := reloadedRE.FindStringSubmatch(m); sm != nil {
			g, _ := strconv.Atoi(sm[1])
			gens = append(gens, g)
		}
	}
	return gens
}

// checkLeaks fails the test if, once every cleanup registered after it has
// run, the test process holds more open fds or goroutines than when it was
// called (a bounded wait lets closing connections and exiting commands
// settle). Call it first in a test.
func checkLeaks(t *testing.T) {
	t.Helper()
	fds, gs := openFDs(t), runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			now, g := openFDs(t), runtime.NumGoroutine()
			if len(now) <= len(fds) && g <= gs {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("leaks: %d goroutines (%d before the test), fds now:\n%s\nbefore:\n%s",
					g, gs, strings.Join(now, "\n"), strings.Join(fds, "\n"))
				return
			}
			<-tick.C
		}
	})
}

// openFDs lists the test process's open fds with what they are.
func openFDs(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var fds []string
	for _, e := range ents {
		target, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		fds = append(fds, e.Name()+" -> "+target)
	}
	return fds
}

// TestReloadUnderLoad: in every mode, ten `systemctl --user reload` in a
// row under load each succeed, each with traffic in between, and not one
// request fails; the journal shows the ten reloads.
func TestReloadUnderLoad(t *testing.T) {
	systemdtest.Require(t)
	const reloads = 10
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			checkLeaks(t)
			name, _, addr := modeSite(t, "reload", mode, "")
			svc := "zsm@" + name + ".service"
			expectHello(t, "tcp", addr)
			broker := mainPID(t, svc)
			before := workerPids(t, svc)

			l := startLoad(t, addr)
			l.progress(t, between)
			start := time.Now()
			for range reloads {
				systemdtest.Systemctl(t, "reload", svc)
				l.progress(t, between)
			}
			took := time.Since(start)
			ok, failures := l.stop()
			t.Logf("%s: %d reloads in %v under load: %s", mode, reloads, took.Round(time.Millisecond), loadgen.Summary(ok, failures))
			if len(failures) > 0 {
				t.Errorf("%d of %d requests failed during %d reloads in %s mode:%s",
					len(failures), ok+int64(len(failures)), reloads, mode, failureLines(failures))
			}

			if again := mainPID(t, svc); again != broker {
				t.Errorf("the broker changed from %v to %v: reloads must not restart it", broker, again)
			}
			for _, pid := range workerPids(t, svc) {
				if slices.Contains(before, pid) {
					t.Errorf("worker %d from before the reloads still runs", pid)
				}
			}
			var gens []int
			systemdtest.Eventually(t, 10*time.Second, fmt.Sprintf("%d reloads in the journal of %s", reloads, svc), func() bool {
				gens = reloadedGenerations(t, svc)
				return len(gens) >= reloads
			})
			slices.Sort(gens)
			if len(gens) != reloads || gens[0] < 1 || len(slices.Compact(slices.Clone(gens))) != reloads {
				t.Errorf("the journal of %s shows reloads to generations %v; want %d different ones", svc, gens, reloads)
			}
		})
	}
}

// TestReloadBrokenConfig: a reload of a config that no longer parses fails
// `systemctl --user reload`, the journal names the file, line and column,
// and the running broker and workers keep serving; once the file is fixed,
// the next reload succeeds and replaces the workers.
func TestReloadBrokenConfig(t *testing.T) {
	systemdtest.Require(t)
	checkLeaks(t)
	name, cfg, addr := modeSite(t, "badreload", "handoff", "")
	svc := "zsm@" + name + ".service"
	expectHello(t, "tcp", addr)
	broker := mainPID(t, svc)
	workers := workerPids(t, svc)

	good, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Line 4 is `  protocol = "http"`: a second '=' at column 14.
	lines := strings.Split(string(good), "\n")
	if lines[3] != `  protocol = "http"` {
		t.Fatalf("line 4 of %s is %q", cfg, lines[3])
	}
	lines[3] = `  protocol = = "http"`
	writeFile(t, cfg, strings.Join(lines, "\n"))
	where := cfg + ":4:14"

	out, err := runBounded(time.Minute, "", os.Environ(), "systemctl", "--user", "reload", svc)
	if err == nil {
		t.Fatalf("systemctl --user reload %s succeeded with a broken config:\n%s", svc, out)
	}
	t.Logf("systemctl --user reload with a syntax error: %v: %s", err, strings.TrimSpace(out))

	var said string
	systemdtest.Eventually(t, 10*time.Second, "the journal to name "+where, func() bool {
		for _, m := range journalMessages(t, "--user-unit="+svc) {
			if strings.Contains(m, where) {
				said = m
				return true
			}
		}
		return false
	})
	t.Logf("journal: %s", said)

	// The running generation still serves, from the same broker and workers.
	for range 5 {
		expectHello(t, "tcp", addr)
	}
	if again := mainPID(t, svc); again != broker {
		t.Errorf("the broker changed from %v to %v after a failed reload", broker, again)
	}
	if st := unitState(t, svc); st != "active" {
		t.Errorf("%s is %s after a failed reload; want active", svc, st)
	}
	now := workerPids(t, svc)
	for _, pid := range workers {
		if !slices.Contains(now, pid) {
			t.Errorf("worker %d is gone after a failed reload (workers now %v)", pid, now)
		}
	}

	writeFile(t, cfg, string(good))
	systemdtest.Systemctl(t, "reload", svc)
	expectHello(t, "tcp", addr)
	for _, pid := range workerPids(t, svc) {
		if slices.Contains(workers, pid) {
			t.Errorf("worker %d from before still runs after the reload of the fixed config", pid)
		}
	}
}

// TestRestartUnderLoad: in every mode, three `systemctl --user restart`
// under load fail no request: the socket unit keeps the listening sockets,
// new connections wait in the kernel queue, and the stopping broker serves
// what it accepted and drains its workers.
func TestRestartUnderLoad(t *testing.T) {
	systemdtest.Require(t)
	const restarts = 3
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			checkLeaks(t)
			name, _, addr := modeSite(t, "restart", mode, "")
			svc := "zsm@" + name + ".service"
			expectHello(t, "tcp", addr)

			l := startLoad(t, addr)
			l.progress(t, between)
			brokers := []process{mainPID(t, svc)}
			start := time.Now()
			for range restarts {
				systemdtest.Systemctl(t, "restart", svc)
				l.progress(t, between)
				brokers = append(brokers, mainPID(t, svc))
			}
			took := time.Since(start)
			ok, failures := l.stop()
			t.Logf("%s: %d restarts in %v under load: %s", mode, restarts, took.Round(time.Millisecond), loadgen.Summary(ok, failures))
			if len(failures) > 0 {
				t.Errorf("%d of %d requests failed during %d restarts in %s mode:%s",
					len(failures), ok+int64(len(failures)), restarts, mode, failureLines(failures))
			}
			for i := 1; i < len(brokers); i++ {
				if brokers[i] == brokers[i-1] {
					t.Errorf("restart %d left the broker %v running", i, brokers[i])
				}
			}
			// Every stopping broker drained its workers: none had to be
			// killed (which would make it exit 1).
			for _, m := range journalMessages(t, "--user-unit="+svc) {
				if strings.Contains(m, "had to be killed") || strings.Contains(m, "killing it") {
					t.Errorf("journal: %s", m)
				}
			}
		})
	}
}
