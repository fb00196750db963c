package test

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/test/systemdtest"
)

// Workers that stop taking connections: stopped by the test (SIGSTOP), or
// stopping themselves right after READY=1.

// faultHung: one of two workers, then every worker, is SIGSTOPped under
// new-connection load. The broker finds each within timeouts.handoff,
// takes back the connections it never read, gives them to other workers,
// replaces it and kills it.
func faultHung(t *testing.T, rep *reliability) {
	addr := loopback(t)
	name, _ := faultSite(t, "hung", helloSite(t, addr, `  pool {
    min_idle = 2
    max      = 3
  }
  timeouts {
    handoff = "1s"
    stop    = "5s"
  }
`))
	expectHello(t, "tcp", addr)
	t.Run("one", func(t *testing.T) {
		r := rep.row(t, "one of two ready workers SIGSTOPped (timeouts.handoff = 1s)",
			"4 clients, a new connection per request",
			"Answered 200 throughout: the other worker takes every new connection, and the connections left "+
				"unread in the stopped worker's channel are taken back and served by others. Only a request the "+
				"stopped worker had already read is lost (a reset when the worker is killed).")
		hangWorkers(t, r, name, addr, false)
	})
	t.Run("all", func(t *testing.T) {
		r := rep.row(t, "every worker SIGSTOPped at once", "4 clients, a new connection per request",
			"Requests wait (the pool has no working worker) until the replacement is ready, a second or two, "+
				"then get 200; what was unread in the stopped workers' channels goes to the replacement. Requests "+
				"the stopped workers had already read are lost (a reset when they are killed).")
		hangWorkers(t, r, name, addr, true)
	})
}

// hangWorkers stops one ready worker of the site (all of them when all)
// under load, and waits until a replacement serves and the stopped ones
// were killed. Only the connections a stopped worker had read may fail.
func hangWorkers(t *testing.T, r *row, name, addr string, all bool) {
	svc := "zsm@" + name + ".service"
	before := settled(t, name, 2)
	victims := before[:1]
	if all {
		victims = before
	}
	tr := startTraffic(t, addr, 4, 0)
	tr.progress(t, 50)
	var stopped []process
	for _, pid := range victims {
		p := lookupProcess(t, pid)
		suspend(t, p)
		stopped = append(stopped, p)
	}
	at := time.Now()
	systemdtest.Eventually(t, 20*time.Second, "a new worker ready", func() bool {
		st, err := siteStatus(name)
		return err == nil && slices.ContainsFunc(workersIn(st, "ready"), func(pid int) bool { return !slices.Contains(before, pid) })
	})
	replaced := time.Since(at)
	tr.progress(t, 50)
	systemdtest.Eventually(t, 20*time.Second, fmt.Sprintf("the stopped workers %v to be killed", stopped), func() bool { return gone(stopped) })
	killed := time.Since(at)
	tr.progress(t, 20)
	tl := tr.end()
	r.fill(tl)
	r.recovery = fmt.Sprintf("replacement ready %s after the SIGSTOP; stopped workers killed after %s",
		replaced.Round(10*time.Millisecond), killed.Round(10*time.Millisecond))

	held, reclaimed := stuckCounts(t, svc, victims)
	t.Logf("%s: %s; the stopped workers had read %d connections, %d were taken back from their channels",
		r.name, tl, held, reclaimed)
	r.recovery += fmt.Sprintf("; %d unread connections taken back", reclaimed)
	if n := tl.failed(); n > held {
		r.errorf(t, "%d requests failed (%s), but the stopped workers had read only %d", n, tl, held)
	}
}

// stuckCounts waits for the journal's worker-stuck entries of pids and
// sums the connections they had read (held) and those taken back.
func stuckCounts(t *testing.T, svc string, pids []int) (held, reclaimed int) {
	t.Helper()
	systemdtest.Eventually(t, 10*time.Second, fmt.Sprintf("worker-stuck entries for %v in the journal", pids), func() bool {
		held, reclaimed = 0, 0
		seen := 0
		for _, e := range journalEntries(t, "--user-unit="+svc, "ZSM_EVENT=worker-stuck") {
			pid, _ := strconv.Atoi(e["ZSM_WORKER_PID"])
			if !slices.Contains(pids, pid) {
				continue
			}
			seen++
			h, _ := strconv.Atoi(e["ZSM_HELD"])
			c, _ := strconv.Atoi(e["ZSM_RECLAIMED"])
			held, reclaimed = held+h, reclaimed+c
		}
		return seen == len(pids)
	})
	return held, reclaimed
}

// hangPy is a worker that says READY=1 (64 slots) and stops itself.
const hangPy = `import os, signal, socket
ch = socket.socket(fileno=int(os.environ["ZSM_CHANNEL_FD"]))
ch.send(b"READY=1\nSLOTS=64\n")
os.kill(os.getpid(), signal.SIGSTOP)
`

// faultReadyThenHang: a worker that is ready and then hangs, facing 40
// clients at once on a cold site: only the first worker hangs (the
// replacement serves), or every worker does (the queue's deadline answers).
func faultReadyThenHang(t *testing.T, rep *reliability) {
	t.Run("first", func(t *testing.T) {
		r := rep.row(t, "the first worker says READY=1 then stops itself (SIGSTOP); pool max = 1",
			"40 clients at once on a cold site",
			"Every client gets 200 after about two seconds: the 40 connections handed to the hung worker sit "+
				"unread in its channel; after timeouts.handoff they are taken back and the replacement serves them.")
		readyThenHang(t, r, false)
	})
	t.Run("every", func(t *testing.T) {
		r := rep.row(t, "every worker says READY=1 then stops itself; timeouts.queue = 3s",
			"40 clients at once on a cold site",
			"Every client gets a 503 saying no worker took the connection within the queue timeout, a few "+
				"seconds after it connected; none waits longer.")
		readyThenHang(t, r, true)
	})
}

// readyThenHang runs 40 clients against a cold site whose first worker
// (every worker when every) hangs right after READY=1.
func readyThenHang(t *testing.T, r *row, every bool) {
	dir := t.TempDir()
	mark := uniqueName(t, "hang")
	py := filepath.Join(dir, "hang.py")
	writeFile(t, py, hangPy)
	hello := helloWorker(t, systemdtest.BuildBinaries(t))
	cond := `mkdir "` + dir + `/hung" 2>/dev/null`
	if every {
		cond = "true"
	}
	script := filepath.Join(dir, "worker.sh")
	writeScript(t, script, "#!/bin/sh\nif "+cond+"; then exec python3 "+py+" \"$1\"; fi\nexec "+hello+"\n")
	addr := loopback(t)
	name, _ := faultSite(t, "readyhang", commandSite(addr, strconv.Quote(script)+", "+strconv.Quote(mark), `  pool {
    min_idle = 1
    max      = 1
  }
  timeouts {
    handoff = "1s"
    queue   = "3s"
    stop    = "5s"
  }
`))
	stopKilling(t, name, mark)
	start := time.Now()
	tl := burst(addr, 40, clientLimit)
	r.fill(tl)
	r.recovery = fmt.Sprintf("slowest answer after %s", max(tl.slowestOf(sawOK), tl.slowestOf(saw503)).Round(10*time.Millisecond))
	t.Logf("%s: %s", r.name, tl)
	r.expectAnswered(t, tl)
	switch {
	case !every && tl.count(sawOK) != 40:
		r.errorf(t, "%d of 40 clients got a 200 (%s); the replacement should serve them all", tl.count(sawOK), tl)
	case every && tl.count(saw503) != 40:
		r.errorf(t, "%d of 40 clients got a 503 (%s); with every worker hung, the queue timeout answers them all", tl.count(saw503), tl)
	case every && !strings.Contains(strings.Join(tl.reasonsOf(saw503), "\n"), "queue timeout"):
		r.errorf(t, "the 503s do not name the queue timeout: %q", tl.reasonsOf(saw503))
	}
	if d := tl.slowestOf(saw503); every && d > 10*time.Second {
		r.errorf(t, "a client waited %s for its 503; the queue timeout is 3s", d)
	}
	if every {
		// The last hung worker holds nothing, so nothing finds it stuck:
		// it stays until the site stops (endMarked continues and kills it).
		return
	}
	// The hung worker gets SIGTERM once its replacement is ready, SIGKILL
	// 5 seconds later.
	hung := markedProcs(t, mark)
	systemdtest.Eventually(t, 30*time.Second, fmt.Sprintf("the hung workers %v to be killed", hung), func() bool { return gone(hung) })
	r.recovery += fmt.Sprintf("; %d hung workers killed within %s", len(hung), time.Since(start).Round(100*time.Millisecond))
	if st := unitState(t, "zsm@"+name+".service"); st != "active" {
		r.errorf(t, "the site's broker is %s after the hung workers; want active", st)
	}
}
