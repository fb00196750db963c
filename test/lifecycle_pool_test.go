package test

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/test/systemdtest"
)

// TestRecycleMaxRequests: with max_requests = 5, sequential requests are
// served by a succession of workers, none failing: every worker that took
// five connections is replaced (its replacement ready first) and exits.
func TestRecycleMaxRequests(t *testing.T) {
	systemdtest.Require(t)
	checkLeaks(t)
	const requests, maxRequests = 30, 5
	hello := helloWorker(t, systemdtest.BuildBinaries(t))
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	name, _ := enableSite(t, "recycle", `site "%s" {
  listen   = ["`+addr+`"]
  protocol = "http"
  command  = ["`+hello+`"]
  pool {
    max_requests = `+fmt.Sprint(maxRequests)+`
  }
}
`)
	svc := "zsm@" + name + ".service"
	// Sequential requests, at least 30, until X-Worker-Pid has changed
	// twice and two workers have taken max_requests connections: a worker
	// being recycled serves on until its replacement is ready, so how many
	// requests that takes depends on how fast workers start.
	var pids []int
	served := map[int]int{}
	workers := map[int]process{} // as first seen: pids are reused
	changes, due := 0, 0
	deadline := time.Now().Add(20 * time.Second)
	for len(pids) < requests || changes < 2 || due < 2 {
		if len(pids) == 1000 || time.Now().After(deadline) {
			t.Fatalf("after %d requests X-Worker-Pid changed %d times and %d workers took max_requests connections: %v",
				len(pids), changes, due, served)
		}
		code, pid, err := getWorker(addr)
		if err != nil || code != 200 || pid == 0 {
			t.Fatalf("request %d: %d, worker %d, %v", len(pids)+1, code, pid, err)
		}
		if len(pids) > 0 && pid != pids[len(pids)-1] {
			changes++
		}
		pids = append(pids, pid)
		if served[pid]++; served[pid] == maxRequests {
			due++
		}
		if _, ok := workers[pid]; !ok {
			if _, _, start, err := stat(pid); err == nil {
				workers[pid] = process{pid: pid, start: start}
			}
		}
	}
	t.Logf("%d requests answered by %d workers (%d changes of X-Worker-Pid), requests per worker: %v", len(pids), len(served), changes, served)

	// Only this test's requests reach the site: a worker that answered
	// max_requests of them is due, and must be replaced.
	var retire []process
	for pid, n := range served {
		if p, ok := workers[pid]; ok && n >= maxRequests {
			retire = append(retire, p)
		}
	}
	systemdtest.Eventually(t, 10*time.Second, fmt.Sprintf("workers %v that took max_requests connections to be recycled", retire), func() bool {
		for _, p := range retire {
			if p.alive() {
				return false
			}
		}
		return true
	})
	var recycled int
	systemdtest.Eventually(t, 10*time.Second, "the journal to say why workers were recycled", func() bool {
		recycled = 0
		for _, m := range journalMessages(t, "--user-unit="+svc) {
			if strings.Contains(m, "recycling worker") && strings.Contains(m, fmt.Sprintf("max_requests (%d)", maxRequests)) {
				recycled++
			}
		}
		return recycled >= len(retire)
	})
	t.Logf("journal: %d workers recycled after max_requests", recycled)
	expectHello(t, "tcp", addr)
}

// TestStopKillsStubbornWorker: `systemctl --user stop` of a site whose
// worker ignores SIGTERM kills it after timeouts.stop; the broker exits 1
// (it had to kill), and no process of the site is left.
func TestStopKillsStubbornWorker(t *testing.T) {
	systemdtest.Require(t)
	checkLeaks(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	mark := uniqueName(t, "stubborn")
	name, _ := enableSite(t, "stubborn", `site "%s" {
  listen      = ["`+addr+`"]
  mode        = "listen"
  eager       = true
  command     = ["sh", "-c", "trap '' TERM; while :; do sleep 1; done"]
  environment = { ZSM_TEST_MARK = "`+mark+`" }
  pool {
    max = 1
  }
  timeouts {
    stop = "1s"
  }
}
`)
	svc := "zsm@" + name + ".service"
	// Every process of the site's app, however deep, carries the mark.
	site := func() []process { return withEnv(t, "ZSM_TEST_MARK="+mark) }
	t.Cleanup(func() {
		for _, p := range site() {
			p.kill()
		}
	})
	systemdtest.Systemctl(t, "start", svc)
	// Stopped before its trap runs, the shell would die of SIGTERM.
	var procs []process
	systemdtest.Eventually(t, 10*time.Second, "the eager worker to run, ignoring SIGTERM", func() bool {
		procs = site()
		for _, p := range procs {
			if !ignoresTERM(p.pid) {
				return false
			}
		}
		return len(procs) > 0
	})
	t.Logf("worker processes: %v", procs)

	start := time.Now()
	systemdtest.Systemctl(t, "stop", svc)
	took := time.Since(start)
	t.Logf("systemctl --user stop took %v", took.Round(time.Millisecond))
	if code, status := showValue(t, svc, "ExecMainCode"), showValue(t, svc, "ExecMainStatus"); code != "1" || status != "1" {
		t.Errorf("ExecMainCode=%s ExecMainStatus=%s; want the broker to have exited (1) with status 1", code, status)
	}
	if took < time.Second {
		t.Errorf("stop took %v: before timeouts.stop, so the worker cannot have been given its time", took)
	}
	if left := site(); len(left) > 0 {
		t.Errorf("processes of the site left after stop: %v", left)
	}
	for _, p := range procs {
		if p.alive() {
			t.Errorf("worker process %v survived the stop", p)
		}
	}
	systemdtest.Eventually(t, 10*time.Second, "the journal to say the worker was killed", func() bool {
		for _, m := range journalMessages(t, "--user-unit="+svc) {
			if strings.Contains(m, "after the stop timeout") {
				return true
			}
		}
		return false
	})
}

// ignoresTERM reports whether process pid ignores SIGTERM (SigIgn in
// /proc/PID/status).
func ignoresTERM(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(b)) {
		if mask, ok := strings.CutPrefix(line, "SigIgn:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(mask), 16, 64)
			return err == nil && m&(1<<(syscall.SIGTERM-1)) != 0
		}
	}
	return false
}

// TestScaleToZero: after idle_stop without a connection the site's workers
// stop, leaving the broker alone in its cgroup, and the next request
// starts them again; with exit_when_idle the broker exits too, the service
// goes inactive by itself, and socket activation serves the next request.
func TestScaleToZero(t *testing.T) {
	systemdtest.Require(t)
	hello := helloWorker(t, systemdtest.BuildBinaries(t))
	site := func(t *testing.T, extra string) (svc, addr string) {
		addr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		name, _ := enableSite(t, "idle", `site "%s" {
  listen   = ["`+addr+`"]
  protocol = "http"
  command  = ["`+hello+`"]
  pool {
    idle_stop = "1s"
`+extra+`  }
}
`)
		return "zsm@" + name + ".service", addr
	}

	t.Run("workers", func(t *testing.T) {
		checkLeaks(t)
		svc, addr := site(t, "")
		code, first, err := getWorker(addr)
		if err != nil || code != 200 {
			t.Fatalf("first request: %d %v", code, err)
		}
		broker := mainPID(t, svc)
		workers := workerPids(t, svc)
		if !slices.Contains(workers, first) {
			t.Fatalf("worker %d that answered is not in the cgroup beside the broker: %v", first, workers)
		}
		start := time.Now()
		systemdtest.Eventually(t, 10*time.Second, "the cgroup to hold only the broker", func() bool {
			procs := cgroupProcs(t, svc)
			return len(procs) == 1 && procs[0] == broker.pid
		})
		t.Logf("workers %v stopped %v after the request", workers, time.Since(start).Round(time.Millisecond))
		code, next, err := getWorker(addr)
		if err != nil || code != 200 {
			t.Fatalf("request after scaling to zero: %d %v", code, err)
		}
		if slices.Contains(workers, next) {
			t.Errorf("worker %d answered after scaling to zero, but it was stopped", next)
		}
		if again := mainPID(t, svc); again != broker {
			t.Errorf("the broker changed from %v to %v; without exit_when_idle it stays", broker, again)
		}
	})

	t.Run("broker", func(t *testing.T) {
		checkLeaks(t)
		svc, addr := site(t, "    exit_when_idle = true\n")
		expectHello(t, "tcp", addr)
		broker := mainPID(t, svc)
		start := time.Now()
		systemdtest.Eventually(t, 15*time.Second, svc+" to go inactive by itself", func() bool {
			return unitState(t, svc) == "inactive"
		})
		t.Logf("broker %v exited %v after the request", broker, time.Since(start).Round(time.Millisecond))
		if broker.alive() {
			t.Errorf("%s is inactive but its broker %v still runs", svc, broker)
		}
		if st := showValue(t, svc, "ExecMainStatus"); st != "0" {
			t.Errorf("the idle broker exited with status %s; want 0", st)
		}
		expectHello(t, "tcp", addr)
		if st := unitState(t, svc); st != "active" {
			t.Errorf("%s is %s after the next request; want active", svc, st)
		}
		if again := mainPID(t, svc); again == broker {
			t.Errorf("the broker %v that exited is MainPID again", broker)
		}
	})
}
