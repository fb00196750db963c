package test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/internal/control"
	"github.com/zsm-dev/zsm/internal/proc"
	"github.com/zsm-dev/zsm/internal/status"
	"github.com/zsm-dev/zsm/test/systemdtest"
)

// The fault suite: zsm promises that a connection that reached a site's
// socket is served or gets an explicit failure (a 503, or a 504, with the
// reason, for http sites), never silently dropped or left hanging, and that
// a site's socket never goes dead. Each case below injects one fault into
// sites run by the real user manager, under load from honest clients
// (faults_client_test.go), and records a row: the fault, the load, the
// requests, the failed ones (neither a 200 nor the explicit failure), what
// the clients saw, and how long the site took to recover. With
// $ZSM_RELIABILITY naming a file, the rows are written there as
// RELIABILITY.md (`make faults`).

// TestFaults runs every case; `-run 'TestFaults/hung'` picks one.
func TestFaults(t *testing.T) {
	systemdtest.Require(t)
	rep := &reliability{start: time.Now()}
	t.Cleanup(func() { rep.write(t) })
	// One unit directory for every case: each enables its own sites in it.
	systemdtest.UnitDir(t)
	for _, c := range []struct {
		name string
		run  func(*testing.T, *reliability)
	}{
		{"hung", faultHung},
		{"ready-then-hang", faultReadyThenHang},
		{"journald-stall", faultJournald},
		{"config-typo", faultConfigTypo},
		{"config-never-loaded", faultConfigNeverLoaded},
		{"pathological-reload", faultPathological},
		{"unbounded", faultUnbounded},
		{"scale-to-zero", faultScaleToZero},
		{"orphans", faultOrphans},
		{"holes", faultHoles},
		{"under-load", faultUnderLoad},
		{"malformed-worker", faultMalformed},
		{"queue-overflow", faultQueueOverflow},
		{"emfile", faultEMFILE},
		{"proxy", faultProxy},
	} {
		t.Run(c.name, func(t *testing.T) { c.run(t, rep) })
	}
}

// reliability collects the rows of a run.
type reliability struct {
	start time.Time
	mu    sync.Mutex // guards rows
	rows  []*row
}

// row is one case's line in RELIABILITY.md.
type row struct {
	name     string // the subtest's name below TestFaults
	fault    string
	load     string
	words    string // what a client sees, in words
	requests int
	failed   int
	saw      string
	recovery string
	notes    []string // what went wrong, when something did
	took     time.Duration
	pass     bool
}

// row starts t's row; it passes unless t fails.
func (r *reliability) row(t *testing.T, fault, load, words string) *row {
	t.Helper()
	name, _ := strings.CutPrefix(t.Name(), "TestFaults/")
	x := &row{name: name, fault: fault, load: load, words: words, saw: "no request"}
	r.mu.Lock()
	r.rows = append(r.rows, x)
	r.mu.Unlock()
	start := time.Now()
	t.Cleanup(func() {
		x.took = time.Since(start)
		x.pass = !t.Failed()
		if t.Failed() && len(x.notes) == 0 {
			x.notes = append(x.notes, "failed: see the test's log")
		}
	})
	return x
}

// fill takes the row's numbers from what the clients saw.
func (x *row) fill(tl *tally) {
	x.requests, x.failed, x.saw = tl.total(), tl.failed(), tl.String()
}

// errorf fails the test and notes why in the row.
func (x *row) errorf(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	msg = tempPathRE.ReplaceAllString(msg, "")
	msg, _, _ = strings.Cut(msg, "\n")
	x.notes = append(x.notes, msg)
	t.Error(msg)
}

// expectAnswered fails the test when a client got neither a 200 nor the
// explicit failure.
func (x *row) expectAnswered(t *testing.T, tl *tally) {
	t.Helper()
	if n := tl.failed(); n > 0 {
		x.errorf(t, "%d of %d requests got neither a 200 nor an explicit failure: %s", n, tl.total(), tl)
	}
}

// faultSite writes body (a site block, %s for its name) to a config file
// of its own and enables the site in TestFaults' unit directory. When the
// test ends the site is disabled, and its saved configuration removed.
func faultSite(t *testing.T, prefix, body string) (name, cfg string) {
	t.Helper()
	name = uniqueName(t, "f-"+prefix)
	cfg = filepath.Join(t.TempDir(), "site.hcl")
	writeFile(t, cfg, fmt.Sprintf(body, name))
	t.Cleanup(func() { forgetSnapshot(name) })
	enableSites(t, []string{cfg}, name)
	return name, cfg
}

// forgetSnapshot removes the copy of its configuration a broker of site
// kept (package snapshot), wherever its HOME or XDG_STATE_HOME put it.
func forgetSnapshot(site string) {
	dirs := []string{filepath.Join(os.Getenv("XDG_RUNTIME_DIR"), "zsm")}
	if h := os.Getenv("HOME"); h != "" {
		dirs = append(dirs, filepath.Join(h, ".local", "state", "zsm"))
	}
	if out, err := systemctlOut("show-environment"); err == nil {
		for line := range strings.Lines(out) {
			k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
			switch k {
			case "HOME":
				dirs = append(dirs, filepath.Join(v, ".local", "state", "zsm"))
			case "XDG_STATE_HOME":
				dirs = append(dirs, filepath.Join(v, "zsm"))
			}
		}
	}
	for _, d := range dirs {
		os.Remove(filepath.Join(d, site+".last.json"))
	}
}

// systemctlOut runs `systemctl --user ARGS...` within a minute.
func systemctlOut(args ...string) (string, error) {
	return runBounded(time.Minute, "", os.Environ(), "systemctl", append([]string{"--user", "--no-pager"}, args...)...)
}

// helloSite is a site block (%s for its name) serving the hello worker
// over http on addr, with extra lines (pool, timeouts, ...) and the
// worker's extra arguments.
func helloSite(t *testing.T, addr, extra string, args ...string) string {
	t.Helper()
	cmd := []string{strconv.Quote(helloWorker(t, systemdtest.BuildBinaries(t)))}
	for _, a := range args {
		cmd = append(cmd, strconv.Quote(a))
	}
	return commandSite(addr, strings.Join(cmd, ", "), extra)
}

// commandSite is a site block (%s for its name) on addr over http with
// the command (its quoted, comma-separated words) and extra lines.
func commandSite(addr, command, extra string) string {
	return "site \"%s\" {\n  listen   = [" + strconv.Quote(addr) + "]\n  protocol = \"http\"\n  command  = [" +
		command + "]\n" + extra + "}\n"
}

// loopback is a free address on 127.0.0.1.
func loopback(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", freePort(t))
}

// siteStatus asks the site's broker for its status over its control socket.
func siteStatus(name string) (status.Site, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return control.NewClient(os.Getenv("XDG_RUNTIME_DIR"), name).Status(ctx)
}

// workersIn returns the pids of the site's workers in state ("" for any).
func workersIn(st status.Site, state string) []int {
	var pids []int
	for _, w := range st.Workers {
		if state == "" || w.State == state {
			pids = append(pids, int(w.Pid))
		}
	}
	return pids
}

// settled waits until the site has at least n workers, all ready, and
// returns their pids.
func settled(t *testing.T, name string, n int) []int {
	t.Helper()
	var pids []int
	systemdtest.Eventually(t, 20*time.Second, fmt.Sprintf("%d ready workers and no other", n), func() bool {
		st, err := siteStatus(name)
		if err != nil {
			return false
		}
		pids = workersIn(st, "ready")
		return len(pids) >= n && len(pids) == len(st.Workers)
	})
	return pids
}

// markedProcs returns the running processes whose command line holds mark.
func markedProcs(t *testing.T, mark string) []process {
	t.Helper()
	var found []process
	for _, pid := range allPids(t) {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !bytes.Contains(cmdline, []byte(mark)) {
			continue
		}
		if state, _, start, err := stat(pid); err == nil && state != 'Z' {
			found = append(found, process{pid: pid, start: start})
		}
	}
	return found
}

// endMarked, when the test ends, continues and kills what still runs of
// the processes marked with mark (the test's own, started by its site).
func endMarked(t *testing.T, mark string) {
	t.Helper()
	t.Cleanup(func() {
		for _, p := range markedProcs(t, mark) {
			if p.alive() {
				syscall.Kill(p.pid, syscall.SIGCONT)
				syscall.Kill(p.pid, syscall.SIGKILL)
			}
		}
	})
}

// stopKilling, when the test ends, stops the site's broker while it kills
// every process marked with mark as it comes: stopped workers would each
// hold the stop up for timeouts.stop and the 5 s to SIGKILL, and a
// broker that sees one die starts another.
func stopKilling(t *testing.T, name, mark string) {
	t.Helper()
	t.Cleanup(func() {
		svc := "zsm@" + name + ".service"
		if _, err := systemctlOut("stop", "--no-block", svc); err != nil {
			t.Error(err)
		}
		systemdtest.Eventually(t, 30*time.Second, svc+" to stop", func() bool {
			for _, p := range markedProcs(t, mark) {
				syscall.Kill(p.pid, syscall.SIGCONT)
				syscall.Kill(p.pid, syscall.SIGKILL)
			}
			st := unitState(t, svc)
			return st == "inactive" || st == "failed"
		})
	})
}

// suspend stops p with SIGSTOP; it is continued when the test ends.
func suspend(t *testing.T, p process) {
	t.Helper()
	t.Cleanup(func() {
		if p.alive() {
			syscall.Kill(p.pid, syscall.SIGCONT)
		}
	})
	if err := syscall.Kill(p.pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP %d: %v", p.pid, err)
	}
	systemdtest.Eventually(t, 5*time.Second, fmt.Sprintf("%d stopped", p.pid), func() bool {
		return proc.Stopped(p.pid)
	})
}

// gone says none of procs runs any more.
func gone(procs []process) bool {
	return !slices.ContainsFunc(procs, process.alive)
}

// cpuTime is the CPU time (user and system) process pid has used.
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	// f[11] is field 14 (utime), f[12] field 15 (stime), in clock ticks of
	// USER_HZ, 100 on Linux.
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100)
}

// window passes a measurement window of d: the time over which CPU use is
// measured, not a wait for something to happen.
func window(d time.Duration) {
	tm := time.NewTimer(d)
	defer tm.Stop()
	<-tm.C
}

// write writes RELIABILITY.md to $ZSM_RELIABILITY, when set.
func (r *reliability) write(t *testing.T) {
	path := os.Getenv("ZSM_RELIABILITY")
	if path == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	fmt.Fprint(&b, reliabilityIntro)
	passed := 0
	for _, x := range r.rows {
		if x.pass {
			passed++
		}
	}
	fmt.Fprintf(&b, "Last run: %s, %d CPUs, %s, %s; the suite took %s; %d of %d cases passed.\n\n",
		r.start.UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), runtime.Version(), buildKind(),
		time.Since(r.start).Round(time.Second), passed, len(r.rows))
	b.WriteString("| case | fault | load | requests | failed | what the clients saw | recovery | result |\n")
	b.WriteString("|---|---|---|---:|---:|---|---|---|\n")
	for _, x := range r.rows {
		result := "pass"
		if !x.pass {
			result = "**FAIL**: " + strings.Join(x.notes, "; ")
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %d | %d | %s | %s | %s |\n", x.name, cell(x.fault), cell(x.load),
			x.requests, x.failed, cell(x.saw), cell(x.recovery), cell(result))
	}
	b.WriteString("\n## What a client sees\n\n")
	for _, x := range r.rows {
		fmt.Fprintf(&b, "- **`%s`**: %s", x.name, x.words)
		if !x.pass {
			fmt.Fprintf(&b, " **Not in this run:** %s.", strings.Join(x.notes, "; "))
		}
		b.WriteString("\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Errorf("writing %s: %v", path, err)
		return
	}
	t.Logf("wrote %s", path)
}

// cell makes s fit in a table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// raceBuild says whether this test binary, and so the binaries
// systemdtest.BuildBinaries builds, has the race detector.
func raceBuild() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// buildKind says whether the binaries under test have the race detector.
func buildKind() string {
	if raceBuild() {
		return "binaries built with -race"
	}
	return "binaries built without -race"
}

const reliabilityIntro = `# Reliability

zsm promises that a connection that reached a site's socket is served or
gets an explicit failure — for an http site a ` + "`503 Service Unavailable`" + `
(or ` + "`504 Gateway Timeout`" + `) whose body says why — and is never silently
dropped or left hanging, and that a site's socket never goes dead.

This file is written by the fault suite, ` + "`TestFaults`" + ` in
[test/faults_test.go](test/faults_test.go). Each case injects one fault into
sites run by a real systemd user manager, journald and session bus (the
harness ` + "`test/with-systemd`" + `), under load from honest clients: each request
on a raw connection, read back with ` + "`http.ReadResponse`" + `, never retried, with
a deadline (20 s unless the case says otherwise). What each client saw is
classified: ` + "`200`" + `, ` + "`503`" + ` or ` + "`504`" + ` with zsm's reason (the explicit failure), or
` + "`reset`" + `, ` + "`closed`" + ` (the connection ended without an answer), ` + "`timeout`" + `
(the client's deadline passed) and ` + "`refused`" + ` (nothing listened). **failed**
counts the clients that got neither a 200 nor an explicit failure: the
promise is broken once for each. **recovery** is how long the site took to
serve normally again. The numbers are those of the last run, on a small
shared machine: read the counts, not the rates.

Regenerate it with ` + "`make faults`" + ` (as root: the harness needs its own
namespaces); ` + "`make test`" + ` runs the same suite without writing the file.

`
