package test

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/internal/loadgen"
	"github.com/zsm-dev/zsm/test/systemdtest"
)

// TestWorkerKills: ten `kill -9` of random workers under load (handoff, a
// pool of 2 to 4) lose only connections that were inside a killed worker.
// A kept-alive connection's failure must follow a response from a killed
// worker (loadgen's Failure.LastPid); failures of new connections, which
// carry no such attribution, are bounded by one per new-connection client
// and kill. The site serves on afterwards.
func TestWorkerKills(t *testing.T) {
	systemdtest.Require(t)
	checkLeaks(t)
	const kills = 10
	hello := helloWorker(t, systemdtest.BuildBinaries(t))
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	name, _ := enableSite(t, "kills", `site "%s" {
  listen   = ["`+addr+`"]
  protocol = "http"
  command  = ["`+hello+`"]
  pool {
    min_idle = 2
    max      = 4
  }
}
`)
	svc := "zsm@" + name + ".service"
	expectHello(t, "tcp", addr)

	l := startLoad(t, addr)
	l.progress(t, between)
	killed := map[int]bool{}
	var firstKill time.Time
	for attempt := 0; len(killed) < kills; attempt++ {
		if attempt == 3*kills {
			t.Fatalf("%d attempts killed only %d workers", attempt, len(killed))
		}
		var victims []int
		systemdtest.Eventually(t, 10*time.Second, "a worker to kill", func() bool {
			victims = victims[:0]
			for _, pid := range workerPids(t, svc) {
				if !killed[pid] {
					victims = append(victims, pid)
				}
			}
			return len(victims) > 0
		})
		pid := victims[rand.IntN(len(victims))]
		_, _, start, err := stat(pid)
		if err != nil {
			continue // it exited meanwhile (an idle spare stopped): choose again
		}
		if firstKill.IsZero() {
			firstKill = time.Now()
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); errors.Is(err, syscall.ESRCH) {
			continue
		} else if err != nil {
			t.Fatalf("kill -9 %d: %v", pid, err)
		}
		killed[pid] = true
		w := process{pid: pid, start: start}
		systemdtest.Eventually(t, 10*time.Second, fmt.Sprintf("worker %d to die", pid), func() bool { return !w.alive() })
		l.progress(t, between)
	}
	ok, failures := l.stop()

	attributed, fresh := 0, 0
	var stray []loadgen.Failure
	for _, f := range failures {
		switch {
		case f.At.Before(firstKill):
			stray = append(stray, f)
		case f.LastPid == 0:
			fresh++
		case killed[f.LastPid]:
			attributed++
		default:
			stray = append(stray, f)
		}
	}
	t.Logf("%d kills of workers under load: %d requests, %d failed: %d on kept-alive connections inside a killed worker, %d on new connections (at most %d may be)",
		kills, ok+int64(len(failures)), len(failures), attributed, fresh, newConnClients*kills)
	t.Logf("load: %s", loadgen.Summary(ok, failures))
	if len(stray) > 0 {
		t.Errorf("%d failures not inside a killed worker (killed %v):%s", len(stray), slices.Sorted(maps.Keys(killed)), failureLines(stray))
	}
	if limit := newConnClients * kills; fresh > limit {
		t.Errorf("%d failures on new connections; at most %d (%d new-connection clients × %d kills) may have been inside a killed worker",
			fresh, limit, newConnClients, kills)
	}
	// The broker counts the connections each killed worker held: no
	// client can have lost more.
	var lost int
	systemdtest.Eventually(t, 10*time.Second, fmt.Sprintf("the journal to report the exits of the %d killed workers", kills), func() bool {
		lost = 0
		exits := map[int]bool{}
		for _, m := range journalMessages(t, "--user-unit="+svc) {
			sm := exitedRE.FindStringSubmatch(m)
			if sm == nil {
				continue
			}
			pid, _ := strconv.Atoi(sm[1])
			if !killed[pid] {
				continue
			}
			exits[pid] = true
			if sm := lostRE.FindStringSubmatch(m); sm != nil {
				k, _ := strconv.Atoi(sm[1])
				lost += k
			}
		}
		return len(exits) == len(killed)
	})
	t.Logf("journal: the killed workers held %d connections then", lost)
	if len(failures) > lost {
		t.Errorf("%d requests failed, but the killed workers held only %d connections", len(failures), lost)
	}

	for range 5 {
		expectHello(t, "tcp", addr)
	}
	if st := unitState(t, svc); st != "active" {
		t.Errorf("%s is %s after the kills; want active", svc, st)
	}
}

// The broker's journal line for a worker's exit, and how many connections
// it held then.
var (
	exitedRE = regexp.MustCompile(`\bworker exited\b.*\bpid=(\d+)\b`)
	lostRE   = regexp.MustCompile(`\blost=(\d+)\b`)
)

// TestBreaker: an app that exits at once opens the breaker: requests get
// a 503 saying the app keeps failing and the STATUS= line says so. Once the
// app is fixed (the command's script now execs the hello worker), the
// broker's own retries find it working and requests get 200 again, with no
// systemctl action.
func TestBreaker(t *testing.T) {
	systemdtest.Require(t)
	checkLeaks(t)
	hello := helloWorker(t, systemdtest.BuildBinaries(t))
	script := filepath.Join(t.TempDir(), "app.sh")
	writeScript(t, script, "#!/bin/sh\necho 'app: broken' >&2\nexit 1\n")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	name, _ := enableSite(t, "breaker", `site "%s" {
  listen   = ["`+addr+`"]
  protocol = "http"
  command  = ["`+script+`"]
}
`)
	svc := "zsm@" + name + ".service"

	var code int
	var body string
	var err error
	systemdtest.Eventually(t, 20*time.Second, "a 503 saying the app keeps failing", func() bool {
		code, body, err = get("tcp", addr)
		if err == nil && code == 200 {
			t.Fatalf("a broken app answered 200 %q", body)
		}
		return err == nil && code == 503 && strings.Contains(body, "the app keeps failing")
	})
	t.Logf("breaker open: %d %q", code, strings.TrimSpace(body))
	var status string
	systemdtest.Eventually(t, 10*time.Second, "StatusText to say failing", func() bool {
		status = showValue(t, svc, "StatusText")
		return strings.Contains(status, "failing")
	})
	t.Logf("StatusText=%s", status)

	writeScript(t, script, "#!/bin/sh\nexec "+hello+" \"$@\"\n")
	fixed := time.Now()
	systemdtest.Eventually(t, 30*time.Second, "200 once the app works", func() bool {
		code, body, err = get("tcp", addr)
		return err == nil && code == 200 && body == "hello\n"
	})
	t.Logf("serving again %v after the fix", time.Since(fixed).Round(time.Millisecond))
	for range 5 {
		expectHello(t, "tcp", addr)
	}
	systemdtest.Eventually(t, 10*time.Second, "StatusText not failing any more", func() bool {
		status = showValue(t, svc, "StatusText")
		return !strings.Contains(status, "failing")
	})
	if n := showValue(t, svc, "NRestarts"); n != "0" {
		t.Errorf("the broker was restarted %s times: the breaker is the broker's, not systemd's", n)
	}
}

// writeScript replaces path with an executable script atomically (a
// rename), so that a shell starting it reads either the old or the new one.
func writeScript(t *testing.T, path, body string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
