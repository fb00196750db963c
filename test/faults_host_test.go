package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zsm-dev/zsm/test/systemdtest"
)

// Faults around the broker: a stalled journald, a site scaled to zero
// over and over, and a worker's children that will not die.

// journaldProcess finds the harness's systemd-journald.
func journaldProcess(t *testing.T) process {
	t.Helper()
	var found []process
	for _, pid := range allPids(t) {
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err == nil && filepath.Base(exe) == "systemd-journald" {
			found = append(found, lookupProcess(t, pid))
		}
	}
	if len(found) != 1 {
		t.Fatalf("systemd-journald processes in the harness: %v; want one", found)
	}
	return found[0]
}

// faultJournald: journald stopped (SIGSTOP) while two sites serve, one
// logging a line per request (connections refused: its queue is full) and
// one logging nothing. Nothing here may call systemctl or journalctl while
// journald is stopped: both wait for it.
func faultJournald(t *testing.T, rep *reliability) {
	r := rep.row(t, "systemd-journald stopped (SIGSTOP) under load, then 2 s more without load",
		"quiet site: 2 clients; loud site (one slot, `queue = 1`, a log line per refused connection): 6 clients; new connections",
		"Nothing: both sites answer as before, the quiet one 200, the loud one 200 or its usual 503 "+
			"(queue limit). The broker's log lines that journald cannot take are dropped and counted "+
			"(`LogDropped`), never waited for; the brokers do not spin.")
	quietAddr, loudAddr := loopback(t), loopback(t)
	quiet, _ := faultSite(t, "quiet", helloSite(t, quietAddr, ""))
	loud, _ := faultSite(t, "loud", helloSite(t, loudAddr, "  pool {\n    min_idle = 1\n    max      = 1\n    queue    = 1\n  }\n", "-slots", "1"))
	expectHello(t, "tcp", quietAddr)
	expectHello(t, "tcp", loudAddr)
	brokers := []process{mainPID(t, "zsm@"+quiet+".service"), mainPID(t, "zsm@"+loud+".service")}
	jd := journaldProcess(t)
	qt, lt := startTraffic(t, quietAddr, 2, 0), startTraffic(t, loudAddr, 6, 0)
	qt.progress(t, 20)
	lt.progress(t, 20)

	t.Cleanup(func() { syscall.Kill(jd.pid, syscall.SIGCONT) }) // whatever happens
	cpu0 := []time.Duration{cpuTime(t, brokers[0].pid), cpuTime(t, brokers[1].pid)}
	if err := syscall.Kill(jd.pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	q0, l0 := qt.ok.Load(), lt.tally.count(saw503)
	systemdtest.Eventually(t, time.Minute, "3 s, 3000 refusals on the loud site and 300 requests served on the quiet one while journald is stopped", func() bool {
		return lt.tally.count(saw503)-l0 >= 3000 && qt.ok.Load()-q0 >= 300 && time.Since(at) >= 3*time.Second
	})
	loaded := time.Since(at)
	cpu1 := []time.Duration{cpuTime(t, brokers[0].pid), cpuTime(t, brokers[1].pid)}
	qtl, ltl := qt.end(), lt.end()
	const idle = 2 * time.Second
	window(idle)
	cpu2 := []time.Duration{cpuTime(t, brokers[0].pid), cpuTime(t, brokers[1].pid)}
	syscall.Kill(jd.pid, syscall.SIGCONT)
	stalled := time.Since(at)

	r.requests, r.failed = qtl.total()+ltl.total(), qtl.failed()+ltl.failed()
	r.saw = "quiet: " + qtl.String() + "; loud: " + ltl.String()
	r.expectAnswered(t, qtl)
	r.expectAnswered(t, ltl)
	if qtl.count(sawOK) != qtl.total() {
		r.errorf(t, "the quiet site failed requests: %s", qtl)
	}
	dropped, _ := siteStatus(loud)
	quietSt, _ := siteStatus(quiet)
	r.recovery = fmt.Sprintf("served throughout a %s stall (slowest quiet 200: %s); LogDropped %d (loud), %d (quiet); broker CPU %s and %s in %s under load, %s and %s in the %s idle window",
		stalled.Round(100*time.Millisecond), qtl.slowestOf(sawOK).Round(time.Millisecond), dropped.LogDropped, quietSt.LogDropped,
		cpu1[0]-cpu0[0], cpu1[1]-cpu0[1], loaded.Round(100*time.Millisecond), cpu2[0]-cpu1[0], cpu2[1]-cpu1[1], idle)
	t.Logf("%s: %s", r.name, r.recovery)
	if dropped.LogDropped == 0 {
		r.errorf(t, "the loud site's LogDropped is 0 after %d refusals with journald stopped", ltl.count(saw503))
	}
	for i, b := range brokers {
		if busy := cpu2[i] - cpu1[i]; busy > idle/4 {
			r.errorf(t, "broker %v used %s of CPU in %s without load while journald was stopped: a busy loop", b, busy, idle)
		}
		if busy := cpu1[i] - cpu0[i]; busy > loaded*9/10 {
			r.errorf(t, "broker %v used %s of CPU in %s under load while journald was stopped", b, busy, loaded)
		}
	}
	systemdtest.Eventually(t, 30*time.Second, "journald to take the brokers' lines again", func() bool {
		return len(journalEntries(t, "--user-unit=zsm@"+loud+".service", "ZSM_EVENT=connection-refused")) > 0
	})
	expectHello(t, "tcp", quietAddr)
}

// faultScaleToZero: a site that exits when idle, cold-started 50 times in
// a row, each request after its broker has exited.
func faultScaleToZero(t *testing.T, rep *reliability) {
	r := rep.row(t, "`exit_when_idle` with `idle_stop = 200ms`: the broker exits after every request",
		"50 requests one after the other, each once the broker has exited: 50 cold starts",
		"A 200 each time, after a cold start of the broker and its worker; the socket keeps listening.")
	addr := loopback(t)
	name, _ := faultSite(t, "zero", helloSite(t, addr, "  pool {\n    idle_stop      = \"200ms\"\n    exit_when_idle = true\n  }\n"))
	svc, sock := "zsm@"+name+".service", "zsm@"+name+".socket"
	tl := newTally()
	at := time.Now()
	for range 50 {
		systemdtest.Eventually(t, 15*time.Second, "the broker to exit", func() bool {
			st := unitState(t, svc)
			return st == "inactive" || st == "failed"
		})
		tl.add(askNew(addr, 10*time.Second))
	}
	took := time.Since(at)
	r.fill(tl)
	r.recovery = fmt.Sprintf("50 cold starts in %s, the slowest %s", took.Round(100*time.Millisecond), tl.slowestOf(sawOK).Round(time.Millisecond))
	t.Logf("%s: %s; %s", r.name, tl, r.recovery)
	r.expectAnswered(t, tl)
	if st := showValue(t, sock, "ActiveState"); st != "active" {
		r.errorf(t, "the socket is %s (Result=%s, the service's %s) after %d cold starts; the socket must never go dead",
			st, showValue(t, sock, "Result"), showValue(t, svc, "Result"), tl.total())
	}
}

// faultOrphans: a worker starts children that ignore SIGTERM, one in its
// process group and one in a session of its own; after `systemctl --user
// stop` none is left. KillMode=process takes systemd's own cleanup of the
// cgroup out of the picture: the broker must do it.
func faultOrphans(t *testing.T, rep *reliability) {
	r := rep.row(t, "a worker's children ignore SIGTERM, one in its process group, one in a session of its own; `KillMode=process`",
		"1 request, then `systemctl --user stop`",
		"Nothing: the request is served; on stop the worker's process group dies with it and the broker, their "+
			"subreaper, kills the orphan in the other session before it exits.")
	dir := t.TempDir()
	mark := uniqueName(t, "orphan")
	script := filepath.Join(dir, "worker.sh")
	writeScript(t, script, `#!/bin/bash
( trap '' TERM; exec -a "sleep-$1-group" sleep 300 ) &
setsid bash -c 'trap "" TERM; exec -a "sleep-$0-session" sleep 300' "$1" &
exec `+helloWorker(t, systemdtest.BuildBinaries(t))+"\n")
	addr := loopback(t)
	name, _ := faultSite(t, "orphans", commandSite(addr, strconv.Quote(script)+", "+strconv.Quote(mark), "  timeouts {\n    stop = \"5s\"\n  }\n"))
	endMarked(t, mark)
	svc := "zsm@" + name + ".service"
	dropIn := filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "systemd", "user", svc+".d")
	if err := os.MkdirAll(dropIn, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dropIn, "zz-faults.conf"), "[Service]\nKillMode=process\n")
	systemdtest.Systemctl(t, "daemon-reload")
	tl := newTally()
	tl.add(askNew(addr, clientLimit))
	r.fill(tl)
	r.expectAnswered(t, tl)
	var kids []process
	systemdtest.Eventually(t, 10*time.Second, "two children ignoring SIGTERM", func() bool {
		kids = kids[:0]
		for _, p := range markedProcs(t, "sleep-"+mark) {
			if ignoresTERM(p.pid) {
				kids = append(kids, p)
			}
		}
		return len(kids) == 2
	})
	where := map[process]string{}
	for _, k := range kids {
		sid, _ := unix.Getsid(k.pid)
		pgid, _ := unix.Getpgid(k.pid)
		where[k] = fmt.Sprintf("%d in the worker's process group %d", k.pid, pgid)
		if sid == k.pid {
			where[k] = fmt.Sprintf("%d in a session of its own", k.pid)
		}
	}
	t.Logf("children: %v", where)
	at := time.Now()
	systemdtest.Systemctl(t, "stop", svc)
	took := time.Since(at)
	var left []string
	for _, k := range kids {
		if k.alive() {
			left = append(left, where[k])
		}
	}
	r.recovery = fmt.Sprintf("stop took %s; %d of 2 children left", took.Round(10*time.Millisecond), len(left))
	if len(left) > 0 {
		r.errorf(t, "left running after systemctl --user stop: the child %s", strings.Join(left, ", and the child "))
	}
}
