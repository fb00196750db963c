package test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/test/systemdtest"
)

// "Units that survive any activation rate": systemd's default start limit
// (5 starts in 10 s) and a socket's trigger limit must not leave a site's
// socket failed, however often the broker starts, exits or crashes; a
// crash-looping broker is throttled by RestartSec= and recovers by itself.

const (
	// coldStarts is how many times in a row the scale-to-zero test starts
	// the broker with a connection and waits for it to exit again: ten
	// times systemd's default StartLimitBurst=.
	coldStarts = 50
	// brokerKills is how many times in a row the crash-loop test kills the
	// broker as soon as it has started again: three times the default
	// StartLimitBurst=, over more than one StartLimitIntervalSec=.
	brokerKills = 15
	// brokerExitTimeout bounds the wait for an idle broker to exit.
	brokerExitTimeout = 10 * time.Second
)

// unitProps returns properties of a unit: `systemctl --user show -p P,...`.
func unitProps(t *testing.T, unit string, props ...string) map[string]string {
	t.Helper()
	out := systemdtest.Systemctl(t, "show", "-p", strings.Join(props, ","), unit)
	m := map[string]string{}
	for line := range strings.Lines(out) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			m[k] = v
		}
	}
	return m
}

// expectSocket fails the test unless the socket unit is active, in state
// sub ("listening": no broker runs; "running": one does; "" for either),
// and has not failed since it was started (Result=success).
func expectSocket(t *testing.T, sock, sub, when string) {
	t.Helper()
	p := unitProps(t, sock, "ActiveState", "SubState", "Result")
	ok := p["ActiveState"] == "active" && p["Result"] == "success" &&
		(p["SubState"] == sub || sub == "" && (p["SubState"] == "listening" || p["SubState"] == "running"))
	if !ok {
		want := sub
		if want == "" {
			want = "listening or running"
		}
		t.Fatalf("%s: %s is %s (%s), result %s; want active (%s), result success",
			when, sock, p["ActiveState"], p["SubState"], p["Result"], want)
	}
}

// expectNoLimitHit fails the test if the journal says that the unit hit a
// start or trigger limit.
func expectNoLimitHit(t *testing.T, units ...string) {
	t.Helper()
	for _, u := range units {
		for _, m := range journalMessages(t, "--user-unit="+u) {
			if strings.Contains(m, "too quickly") || strings.Contains(m, "limit hit") ||
				strings.Contains(m, "start-limit") || strings.Contains(m, "trigger-limit") {
				t.Errorf("journal of %s: %s", u, m)
			}
		}
	}
}

// restartSec returns the service's RestartSec= as systemctl shows it: a
// time span such as "1s" or "500ms".
func restartSec(t *testing.T, svc string) time.Duration {
	t.Helper()
	v := showValue(t, svc, "RestartUSec")
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("RestartUSec=%s of %s: %v", v, svc, err)
	}
	return d
}

// TestColdStartRate: a site that scales to zero with exit_when_idle and the
// shortest idle_stop is cold-started 50 times in a row, ten times systemd's
// default start limit: each time one request (a raw connection, no retry)
// starts the broker through the socket, then the test waits until the
// broker has exited and the service is inactive. Every request gets 200,
// each from a new broker; the service never fails and the socket is still
// listening at the end, with no start or trigger limit hit.
func TestColdStartRate(t *testing.T) {
	systemdtest.Require(t)
	checkLeaks(t)
	hello := helloWorker(t, systemdtest.BuildBinaries(t))
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s := enable(t, "coldrate", `site "%s" {
  listen   = ["`+addr+`"]
  protocol = "http"
  command  = ["`+hello+`"]
  pool {
    idle_stop      = "1ms"
    exit_when_idle = true
  }
}`)
	svc, sock := "zsm@"+s.name+".service", "zsm@"+s.name+".socket"

	var failed []string
	invocations := map[string]bool{}
	var slowest time.Duration
	start := time.Now()
	for i := 1; i <= coldStarts; i++ {
		began := time.Now()
		if code, body, err := get("tcp", addr); err != nil || code != 200 || body != "hello\n" {
			failed = append(failed, fmt.Sprintf("cold start %d: %d %q %v", i, code, body, err))
		}
		var p map[string]string
		systemdtest.Eventually(t, brokerExitTimeout, fmt.Sprintf("the broker of cold start %d to exit", i), func() bool {
			p = unitProps(t, svc, "ActiveState", "Result", "InvocationID")
			return p["ActiveState"] == "inactive" || p["ActiveState"] == "failed"
		})
		if p["ActiveState"] != "inactive" || p["Result"] != "success" {
			t.Fatalf("after cold start %d, %s is %s with result %s; want inactive, success (failed requests so far: %q)",
				i, svc, p["ActiveState"], p["Result"], failed)
		}
		invocations[p["InvocationID"]] = true
		expectSocket(t, sock, "listening", fmt.Sprintf("after cold start %d", i))
		slowest = max(slowest, time.Since(began))
	}
	took := time.Since(start)
	t.Logf("%d cold starts (request, then the broker's exit) in %v: %v each on average, the slowest %v",
		coldStarts, took.Round(time.Millisecond), (took / coldStarts).Round(time.Millisecond), slowest.Round(time.Millisecond))

	if len(failed) > 0 {
		t.Errorf("%d of %d cold-start requests failed:\n%s", len(failed), coldStarts, strings.Join(failed, "\n"))
	}
	if len(invocations) != coldStarts {
		t.Errorf("%d different invocations of %s served %d cold starts; want one each", len(invocations), svc, coldStarts)
	}
	if n := showValue(t, svc, "NRestarts"); n != "0" {
		t.Errorf("%s was restarted %s times; an idle exit is not a failure", svc, n)
	}
	expectNoLimitHit(t, svc, sock)
	// And the site still answers.
	expectHello(t, "tcp", addr)
	expectSocket(t, sock, "", "at the end")
}

// TestCrashLoop: the broker is killed (SIGKILL to every process of the
// service) as soon as it has started again, 15 times in a row, three times
// systemd's default start limit. Each crash is restarted, no sooner than
// RestartSec= after it: the loop is throttled, not stopped. The socket never
// fails; once the kills stop, the site serves again by itself, with no
// reset-failed.
func TestCrashLoop(t *testing.T) {
	systemdtest.Require(t)
	checkLeaks(t)
	hello := helloWorker(t, systemdtest.BuildBinaries(t))
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s := enable(t, "crashloop", `site "%s" {
  listen   = ["`+addr+`"]
  protocol = "http"
  command  = ["`+hello+`"]
}`)
	svc, sock := "zsm@"+s.name+".service", "zsm@"+s.name+".socket"
	expectHello(t, "tcp", addr)
	delay := restartSec(t, svc)
	if delay <= 0 {
		t.Fatalf("%s has no RestartSec=: nothing throttles a crash loop", svc)
	}

	start := time.Now()
	shortest, killed := killLoop(t, svc, sock, addr, brokerKills, delay)
	looped := time.Since(start)

	var code int
	var body string
	var err error
	systemdtest.Eventually(t, delay+30*time.Second, "the site to serve again after the kills", func() bool {
		code, body, err = get("tcp", addr)
		return err == nil && code == 200 && body == "hello\n"
	})
	recovered := time.Since(killed)
	restarts := showValue(t, svc, "NRestarts")
	t.Logf("%d SIGKILLs of the broker in %v: NRestarts=%s; the shortest pause from a kill to the next broker %v (RestartSec=%v); serving again %v after the last kill",
		brokerKills, looped.Round(time.Millisecond), restarts, shortest.Round(time.Millisecond), delay, recovered.Round(time.Millisecond))

	if restarts != strconv.Itoa(brokerKills) {
		t.Errorf("%s: NRestarts=%s after %d kills; want one restart per crash", svc, restarts, brokerKills)
	}
	if shortest < delay {
		t.Errorf("a killed broker was replaced %v after the kill, sooner than RestartSec=%v: the crash loop is not throttled", shortest, delay)
	}
	if st := unitState(t, svc); st != "active" {
		t.Errorf("%s is %s after it served again; want active", svc, st)
	}
	expectSocket(t, sock, "running", "after the crash loop")
	expectNoLimitHit(t, svc, sock)
}

// killLoop kills the service's broker (SIGKILL to every process of the
// service) n times, each time as soon as systemd has started the next one,
// with a connection waiting while it is down so that the socket is woken
// too: it must queue the connection for the pending restart, not start a
// broker sooner. The socket must stay up throughout. It returns the
// shortest time from a kill to the next broker (measured from before the
// kill to after the new broker was seen: never shorter than systemd's real
// pause) and when the last kill was sent.
func killLoop(t *testing.T, svc, sock, addr string, n int, delay time.Duration) (shortest time.Duration, killed time.Time) {
	t.Helper()
	var waiting net.Conn
	t.Cleanup(func() {
		if waiting != nil {
			waiting.Close()
		}
	})
	shortest = time.Duration(1<<63 - 1)
	var prev process
	for i := 1; i <= n; i++ {
		broker := nextBroker(t, svc, prev, delay)
		if i > 1 {
			shortest = min(shortest, time.Since(killed))
			waiting.Close()
		}
		expectSocket(t, sock, "", fmt.Sprintf("before kill %d", i))
		killed = time.Now()
		systemdtest.Systemctl(t, "kill", "--signal=SIGKILL", svc)
		prev = broker
		var err error
		if waiting, err = net.Dial("tcp", addr); err != nil {
			t.Fatalf("connecting after kill %d: %v", i, err)
		}
	}
	return shortest, killed
}

// nextBroker waits for the service's main process to be one other than
// prev, started by systemd's restart (at most RestartSec= plus a margin
// after the kill), and returns it. It fails the test at once if the
// service is left failed.
func nextBroker(t *testing.T, svc string, prev process, delay time.Duration) process {
	t.Helper()
	var p process
	systemdtest.Eventually(t, delay+10*time.Second, "a new broker in "+svc, func() bool {
		m := unitProps(t, svc, "ActiveState", "Result", "MainPID")
		if m["ActiveState"] == "failed" {
			t.Fatalf("%s is failed (result %s) instead of restarting", svc, m["Result"])
		}
		pid, err := strconv.Atoi(m["MainPID"])
		if err != nil || pid == 0 {
			return false
		}
		state, _, start, err := stat(pid)
		p = process{pid: pid, start: start}
		return err == nil && state != 'Z' && p != prev
	})
	return p
}

// TestTriggerLimitEndsSpin: the one thing the socket's trigger limit is
// left for. A service that cannot start at all (here a drop-in of the
// user's with a Condition= that fails) starts no broker: each start job
// ends at once, the connection still waits, and the manager triggers the
// socket again, thousands of times a second. The limit ends that loop
// within a second, failing the socket, instead of letting it busy the
// manager for good; no broker ever ran, so no activation rate is involved.
func TestTriggerLimitEndsSpin(t *testing.T) {
	systemdtest.Require(t)
	checkLeaks(t)
	hello := helloWorker(t, systemdtest.BuildBinaries(t))
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s := enable(t, "spin", `site "%s" {
  listen   = ["`+addr+`"]
  protocol = "http"
  command  = ["`+hello+`"]
}`)
	svc, sock := "zsm@"+s.name+".service", "zsm@"+s.name+".socket"
	dropIn := filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "systemd", "user", svc+".d", "condition.conf")
	if err := os.MkdirAll(filepath.Dir(dropIn), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dropIn, "[Unit]\nConditionPathExists=/nonexistent/"+s.name+"\n")
	systemdtest.Systemctl(t, "daemon-reload")

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	connected := time.Now()
	systemdtest.Eventually(t, 10*time.Second, sock+" to hit its trigger limit", func() bool {
		return showValue(t, sock, "Result") == "trigger-limit-hit"
	})
	t.Logf("%s failed with trigger-limit-hit %v after the connection", sock, time.Since(connected).Round(time.Millisecond))
	if n := showValue(t, svc, "ExecMainStartTimestampMonotonic"); n != "0" {
		t.Errorf("%s started a broker (ExecMainStartTimestampMonotonic=%s); the condition should have kept it from starting", svc, n)
	}
}
