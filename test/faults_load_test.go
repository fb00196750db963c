package test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/test/systemdtest"
)

// The cases zsm already handled, measured the same way: the broker or a
// worker killed, a restart, a worker that sends garbage, a full queue, and
// a broker out of file descriptors.

// faultUnderLoad: one site with two workers under mixed load (kept-alive
// and new connections) through a restart, a worker's SIGKILL and the
// broker's SIGKILL.
func faultUnderLoad(t *testing.T, rep *reliability) {
	addr := loopback(t)
	name, _ := faultSite(t, "load", helloSite(t, addr, `  pool {
    min_idle = 2
    max      = 2
  }
  timeouts {
    stop = "5s"
  }
`))
	svc := "zsm@" + name + ".service"
	expectHello(t, "tcp", addr)
	const load = "4 clients: 2 keep their connection alive, 2 open one per request"
	t.Run("restart", func(t *testing.T) {
		r := rep.row(t, "`systemctl --user restart` of the broker", load,
			"Nothing: the socket unit keeps the listening socket, new connections wait in the kernel's queue, "+
				"the stopping broker serves what it accepted and its workers finish their requests (kept-alive "+
				"connections are closed after an answer, with `Connection: close`).")
		tr := startTraffic(t, addr, 2, 2)
		tr.progress(t, 50)
		broker := mainPID(t, svc)
		at := time.Now()
		systemdtest.Systemctl(t, "restart", svc)
		took := time.Since(at)
		tr.progress(t, 50)
		tl := tr.end()
		r.fill(tl)
		r.recovery = fmt.Sprintf("restart took %s", took.Round(10*time.Millisecond))
		r.expectAnswered(t, tl)
		if tl.count(sawOK) != tl.total() {
			r.errorf(t, "a restart under load must fail no request: %s", tl)
		}
		if again := mainPID(t, svc); again == broker {
			r.errorf(t, "the broker %v still runs after the restart", broker)
		}
	})
	t.Run("worker-sigkill", func(t *testing.T) {
		r := rep.row(t, "SIGKILL to one of two workers", load,
			"Requests the killed worker was serving, and kept-alive connections it held, end with a reset or a "+
				"close; every other request gets 200, and the worker is replaced at once.")
		killWorker(t, r, name, addr)
	})
	t.Run("broker-sigkill", func(t *testing.T) {
		r := rep.row(t, "`systemctl --user kill -s KILL` (the broker and its workers)", load,
			"Requests in flight at the kill, and kept-alive connections, end with a reset or a close: at most "+
				"one per client. New connections wait in the socket's queue until systemd has started a new "+
				"broker (Restart=on-failure, 1 s) and get 200.")
		killBroker(t, r, name, addr)
	})
}

// killWorker SIGKILLs one ready worker under load; only the connections
// it held (the journal's lost=) may fail.
func killWorker(t *testing.T, r *row, name, addr string) {
	svc := "zsm@" + name + ".service"
	pids := settled(t, name, 2)
	tr := startTraffic(t, addr, 2, 2)
	tr.progress(t, 50)
	victim := lookupProcess(t, pids[0])
	if err := syscall.Kill(victim.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	systemdtest.Eventually(t, 20*time.Second, "a replacement ready", func() bool {
		st, err := siteStatus(name)
		others := slices.DeleteFunc(workersIn(st, "ready"), func(pid int) bool { return pid == victim.pid })
		return err == nil && len(others) >= 2 && !victim.alive()
	})
	replaced := time.Since(at)
	tr.progress(t, 50)
	tl := tr.end()
	r.fill(tl)
	r.recovery = fmt.Sprintf("replacement ready %s after the kill", replaced.Round(10*time.Millisecond))
	lost := -1
	systemdtest.Eventually(t, 10*time.Second, "the killed worker's exit in the journal", func() bool {
		for _, e := range journalEntries(t, "--user-unit="+svc, "ZSM_WORKER_PID="+strconv.Itoa(victim.pid)) {
			if e["ZSM_EVENT"] == "worker-crashed" || e["ZSM_EVENT"] == "worker-exited" {
				lost, _ = strconv.Atoi(e["ZSM_LOST"]) // absent: none
				return true
			}
		}
		return false
	})
	t.Logf("%s: %s; the killed worker held %d connections", r.name, tl, lost)
	if n := tl.failed(); n > lost {
		r.errorf(t, "%d requests failed (%s), but the killed worker held only %d connections", n, tl, lost)
	}
}

// killBroker kills the whole service under load; at most one request per
// client may fail, and the socket serves on through a new broker.
func killBroker(t *testing.T, r *row, name, addr string) {
	svc := "zsm@" + name + ".service"
	tr := startTraffic(t, addr, 2, 2)
	tr.progress(t, 50)
	broker := mainPID(t, svc)
	systemdtest.Systemctl(t, "kill", "-s", "KILL", svc)
	at := time.Now()
	systemdtest.Eventually(t, 10*time.Second, "the broker to die", func() bool { return !broker.alive() })
	ok := tr.ok.Load()
	systemdtest.Eventually(t, 30*time.Second, "requests served by a new broker", func() bool { return tr.ok.Load() > ok+10 })
	recovered := time.Since(at)
	tr.progress(t, 50)
	tl := tr.end()
	r.fill(tl)
	r.recovery = fmt.Sprintf("serving again %s after the kill", recovered.Round(10*time.Millisecond))
	t.Logf("%s: %s", r.name, tl)
	if n := tl.failed(); n > 4 {
		r.errorf(t, "%d requests failed (%s); at most one per client (4) was in flight", n, tl)
	}
	if st := showValue(t, "zsm@"+name+".socket", "ActiveState"); st != "active" {
		r.errorf(t, "the socket is %s after the broker's kill; want active", st)
	}
}

// garbagePy is a worker that sends a malformed datagram instead of
// READY=1, then waits for the broker to end its channel.
const garbagePy = `import os, socket
ch = socket.socket(fileno=int(os.environ["ZSM_CHANNEL_FD"]))
ch.send(b"READY=yes\n\x00\xff not a key\n\n")
ch.recv(4097)
`

// faultMalformed: every other worker the site starts sends garbage instead
// of READY=1; max_requests makes the broker start workers all the time.
func faultMalformed(t *testing.T, rep *reliability) {
	r := rep.row(t, "every other worker the site starts sends a malformed datagram instead of READY=1; `max_requests = 20` makes it start workers all the time",
		"2 clients, a new connection per request",
		"Nothing: the broker logs the protocol violation, counts a failure to start and starts another worker; "+
			"clients are served by the ready workers meanwhile (200).")
	dir := t.TempDir()
	mark := uniqueName(t, "garbage")
	py := filepath.Join(dir, "garbage.py")
	writeFile(t, py, garbagePy)
	script := filepath.Join(dir, "worker.sh")
	// Workers 2, 4, 6, ... send garbage: a counter under a lock.
	writeScript(t, script, fmt.Sprintf(`#!/bin/sh
exec 9>>%[1]s/lock
flock 9
n=$(cat %[1]s/n 2>/dev/null || echo 0)
echo $((n + 1)) > %[1]s/n
exec 9>&-
if [ $((n %% 2)) = 1 ]; then exec python3 %[2]s "$1"; fi
exec %[3]s
`, dir, py, helloWorker(t, systemdtest.BuildBinaries(t))))
	addr := loopback(t)
	name, _ := faultSite(t, "garbage", commandSite(addr, strconv.Quote(script)+", "+strconv.Quote(mark), `  pool {
    min_idle     = 2
    max          = 2
    max_requests = 20
  }
`))
	endMarked(t, mark)
	svc := "zsm@" + name + ".service"
	expectHello(t, "tcp", addr)
	broker := mainPID(t, svc)
	tr := startTraffic(t, addr, 2, 0)
	violations := 0
	systemdtest.Eventually(t, time.Minute, "3 workers to send garbage", func() bool {
		violations = len(journalEntries(t, "--user-unit="+svc, "ZSM_EVENT=protocol-error"))
		return violations >= 3
	})
	tr.progress(t, 50)
	tl := tr.end()
	r.fill(tl)
	r.recovery = fmt.Sprintf("%d malformed workers replaced; the broker never restarted", violations)
	t.Logf("%s: %s; %d protocol violations logged", r.name, tl, violations)
	r.expectAnswered(t, tl)
	if violations == 0 {
		r.errorf(t, "no protocol-error in the journal: no worker sent its garbage")
	}
	if again := mainPID(t, svc); again != broker {
		r.errorf(t, "the broker changed from %v to %v: worker input must never crash it", broker, again)
	}
	if n := showValue(t, svc, "NRestarts"); n != "0" {
		r.errorf(t, "the broker was restarted %s times", n)
	}
}

// faultQueueOverflow: a site that holds one connection at a time and
// queues one more, facing 100 clients at once.
func faultQueueOverflow(t *testing.T, rep *reliability) {
	r := rep.row(t, "`pool { max = 1, queue = 1 }`, a worker with one slot", "100 clients at once",
		"The connections beyond the worker's slot and the queue get a 503 at once, saying the queue limit "+
			"was reached; the others get 200.")
	addr := loopback(t)
	faultSite(t, "queue", helloSite(t, addr, `  pool {
    min_idle = 1
    max      = 1
    queue    = 1
  }
`, "-slots", "1"))
	expectHello(t, "tcp", addr)
	tl := burst(addr, 100, clientLimit)
	r.fill(tl)
	r.recovery = fmt.Sprintf("slowest 503 after %s, slowest 200 after %s",
		tl.slowestOf(saw503).Round(time.Millisecond), tl.slowestOf(sawOK).Round(time.Millisecond))
	t.Logf("%s: %s", r.name, tl)
	r.expectAnswered(t, tl)
	if tl.count(saw503) == 0 || !strings.Contains(strings.Join(tl.reasonsOf(saw503), "\n"), "queue limit") {
		r.errorf(t, "no 503 naming the queue limit: %s", tl)
	}
	expectHello(t, "tcp", addr)
}

// faultEMFILE: a broker limited to 64 file descriptors, on a cold site
// whose worker takes a second to start, facing 150 clients at once.
func faultEMFILE(t *testing.T, rep *reliability) {
	// The limit is the whole service's: the worker takes 16 connections at
	// a time so that the broker, not the worker, runs out of fds.
	r := rep.row(t, "the broker at `LimitNOFILE=64` (its worker, a second slow to start, takes 16 connections at a time)", "150 clients at once on a cold site",
		"Every client gets an answer: the broker accepts until it runs out of file descriptors, pauses "+
			"accepting (logging accept failed: too many open files) and leaves the rest in the socket's "+
			"queue; as the worker takes connections, fds free up and the rest are accepted and served (200).")
	addr := loopback(t)
	name, _ := faultSite(t, "emfile", helloSite(t, addr, `  pool {
    min_idle = 1
    max      = 1
  }
`, "-start-delay", "1s", "-slots", "16"))
	svc := "zsm@" + name + ".service"
	dir := filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "systemd", "user", svc+".d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "zz-faults.conf"), "[Service]\nLimitNOFILE=64\n")
	systemdtest.Systemctl(t, "daemon-reload")
	tl := burst(addr, 150, 30*time.Second)
	r.fill(tl)
	r.recovery = fmt.Sprintf("slowest 200 after %s", tl.slowestOf(sawOK).Round(10*time.Millisecond))
	t.Logf("%s: %s", r.name, tl)
	r.expectAnswered(t, tl)
	if n := showValue(t, svc, "LimitNOFILE"); n != "64" {
		r.errorf(t, "LimitNOFILE=%s; the drop-in did not apply", n)
	}
	emfile := 0
	for _, e := range journalEntries(t, "--user-unit="+svc, "ZSM_EVENT=accept-failed") {
		if strings.Contains(e["ZSM_ERROR"], "too many open files") {
			emfile++
		}
	}
	t.Logf("%d accept-failed entries with EMFILE", emfile)
	if emfile == 0 {
		r.errorf(t, "the broker never ran out of fds (no accept failed: too many open files): the case tested nothing")
	}
	r.recovery += fmt.Sprintf("; the broker logged EMFILE %d times", emfile)
	if st := unitState(t, svc); st != "active" {
		r.errorf(t, "the broker is %s after running out of fds; want active", st)
	}
}
