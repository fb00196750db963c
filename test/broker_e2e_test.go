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
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/test/systemdtest"
)

// enableSite gives the test its own unit directory, writes body (a site
// block with %s for the name) to a config file and enables the site as a
// user would. It returns the site's name and the config file's path.
func enableSite(t *testing.T, prefix, body string) (name, cfg string) {
	t.Helper()
	systemdtest.UnitDir(t)
	name = uniqueName(t, prefix)
	cfg = filepath.Join(t.TempDir(), "site.hcl")
	writeFile(t, cfg, fmt.Sprintf(body, name))
	enableSites(t, []string{cfg}, name)
	return name, cfg
}

// cgroupProcs returns the pids in a unit's cgroup (its ControlGroup=), read
// from the hierarchy systemd tracks units in: name=systemd under a hybrid
// layout (as here), else the unified one, mounted beside it or alone.
func cgroupProcs(t *testing.T, unit string) []int {
	t.Helper()
	cg := showValue(t, unit, "ControlGroup")
	if cg == "" {
		t.Fatalf("%s has no control group", unit)
	}
	for _, mnt := range []string{"/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		b, err := os.ReadFile(filepath.Join(mnt, cg, "cgroup.procs"))
		if err != nil {
			continue
		}
		var pids []int
		for f := range strings.FieldsSeq(string(b)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("%s/cgroup.procs: %q", filepath.Join(mnt, cg), b)
			}
			pids = append(pids, pid)
		}
		return pids
	}
	t.Fatalf("cgroup %s of %s not found under /sys/fs/cgroup/{systemd,unified,}", cg, unit)
	return nil
}

// mainPID returns the unit's main process, failing the test if it has none.
func mainPID(t *testing.T, unit string) process {
	t.Helper()
	pid, err := strconv.Atoi(showValue(t, unit, "MainPID"))
	if err != nil || pid == 0 {
		t.Fatalf("%s has no main process (MainPID %d, %v)", unit, pid, err)
	}
	return lookupProcess(t, pid)
}

// TestBrokerKilled: when the broker is killed outright (SIGKILL to its main
// pid, not through systemctl), its workers die too, and the next connection
// is served by a new broker that systemd starts.
//
// The generated units have KillMode=mixed: once the broker is dead, systemd
// itself SIGKILLs what is left in the cgroup. So a second case takes systemd
// out of the picture with KillMode=process in an extra drop-in, and uses
// listen mode, where workers hold the listening sockets and no channel that
// would end with the broker: there only the parent-death signal the broker
// asks the kernel for (PDEATHSIG) can stop them.
func TestBrokerKilled(t *testing.T) {
	systemdtest.Require(t)
	bin := systemdtest.BuildBinaries(t)
	for _, tt := range []struct {
		name, mode string
		dropIn     string // extra service drop-in, "" for none
	}{
		{name: "generated units", mode: "handoff"},
		{name: "PDEATHSIG alone", mode: "listen", dropIn: "[Service]\nKillMode=process\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			port := freePort(t)
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			name, _ := enableSite(t, "killed", `site "%s" {
  listen   = ["`+addr+`"]
  mode     = "`+tt.mode+`"
  protocol = "http"
  command  = ["`+helloWorker(t, bin)+`"]
}`)
			svc := "zsm@" + name + ".service"
			if tt.dropIn != "" {
				dir := filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "systemd", "user", svc+".d")
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Join(dir, "zz-test.conf"), tt.dropIn)
				systemdtest.Systemctl(t, "daemon-reload")
				if km := showValue(t, svc, "KillMode"); km != "process" {
					t.Fatalf("KillMode=%s with the test's drop-in; want process", km)
				}
			}
			expectHello(t, "tcp", addr)

			broker := mainPID(t, svc)
			var workers []process
			for _, pid := range cgroupProcs(t, svc) {
				if pid == broker.pid {
					continue
				}
				_, ppid, start, err := stat(pid)
				if err != nil {
					continue // gone meanwhile
				}
				if ppid != broker.pid {
					t.Errorf("process %d in %s's cgroup is not a child of the broker %d", pid, svc, broker.pid)
				}
				workers = append(workers, process{pid: pid, start: start})
			}
			if len(workers) == 0 {
				t.Fatalf("no worker in %s's cgroup besides the broker %d", svc, broker.pid)
			}
			t.Logf("broker %d, workers %v: SIGKILL to the broker", broker.pid, workers)

			if err := syscall.Kill(broker.pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			// Well within TimeoutStopSec=, after which systemd would
			// SIGKILL the cgroup in any case.
			systemdtest.Eventually(t, 10*time.Second, fmt.Sprintf("workers %v to die with the broker", workers), func() bool {
				for _, w := range workers {
					if w.alive() {
						return false
					}
				}
				return true
			})

			expectHello(t, "tcp", addr)
			if again := mainPID(t, svc); again == broker {
				t.Errorf("the request after the kill was served, but MainPID is still the killed broker %d", broker.pid)
			}
			if st := unitState(t, svc); st != "active" {
				t.Errorf("%s is %s after serving again; want active", svc, st)
			}
		})
	}
}

// TestSocketUnitMismatch: when the socket unit and the config disagree
// (config edited without running zsmgen units again, or a drop-in edited
// by hand), the broker that the first connection starts refuses to run, and
// its journal says which address does not match.
func TestSocketUnitMismatch(t *testing.T) {
	systemdtest.Require(t)
	bin := systemdtest.BuildBinaries(t)
	for _, tt := range []struct {
		name string
		// edit changes the config or the units after zsmgen units, and
		// returns the address the journal must name.
		edit func(t *testing.T, name, cfg, addr string) string
	}{
		{"config gained an address", func(t *testing.T, name, cfg, addr string) string {
			extra := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			src, err := os.ReadFile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			edited := strings.Replace(string(src), `["`+addr+`"]`, `["`+addr+`", "`+extra+`"]`, 1)
			if edited == string(src) {
				t.Fatalf("could not add an address to:\n%s", src)
			}
			writeFile(t, cfg, edited)
			return extra
		}},
		{"socket drop-in gained an address", func(t *testing.T, name, cfg, addr string) string {
			extra := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			dir := filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "systemd", "user", "zsm@"+name+".socket.d")
			writeFile(t, filepath.Join(dir, "zz-test.conf"), "[Socket]\nListenStream="+extra+"\n")
			systemdtest.Systemctl(t, "daemon-reload")
			systemdtest.Systemctl(t, "restart", "zsm@"+name+".socket")
			listen := systemdtest.Systemctl(t, "show", "-p", "Listen", "zsm@"+name+".socket")
			if !strings.Contains(listen, extra) {
				t.Fatalf("socket unit listens on %q after the edit; want %s among them", listen, extra)
			}
			return extra
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			name, cfg := enableSite(t, "mismatch", `site "%s" {
  listen   = ["`+addr+`"]
  protocol = "http"
  command  = ["`+helloWorker(t, bin)+`"]
}`)
			svc := "zsm@" + name + ".service"
			unmatched := tt.edit(t, name, cfg, addr)

			// The first connection starts the broker, which cannot serve
			// it: it gets an explicit answer, not silence.
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: zsm\r\nConnection: close\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("the waiting client got no answer: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 503 || !strings.Contains(string(body), "zsmgen units") {
				t.Errorf("the waiting client got %d %q; want a 503 that says what to do", resp.StatusCode, body)
			}

			var said string
			systemdtest.Eventually(t, 20*time.Second, "the broker's error in the journal of "+svc, func() bool {
				for _, m := range journalMessages(t, "--user-unit="+svc) {
					if strings.Contains(m, unmatched) && strings.Contains(m, "match") {
						said = m
						return true
					}
				}
				return false
			})
			t.Logf("journal: %s", said)
			// It exits with EX_CONFIG, which the unit does not restart on:
			// no loop of doomed brokers.
			systemdtest.Eventually(t, 10*time.Second, "the broker to exit with status 78", func() bool {
				code, status := showValue(t, svc, "ExecMainCode"), showValue(t, svc, "ExecMainStatus")
				return code == "1" && status == "78"
			})
			if n := showValue(t, svc, "NRestarts"); n != "0" {
				t.Errorf("the broker was restarted %s times", n)
			}
		})
	}
}

// statusLine is the broker's STATUS= text (README: workers, busy, queued,
// served).
var statusLine = regexp.MustCompile(`^(\d+) workers, (\d+) busy, (\d+) queued, (\d+) served\b`)

// TestStatusLine: after requests, `systemctl --user show -p StatusText`
// carries the broker's STATUS= line, counting at least the requests made,
// with nothing left busy or queued.
func TestStatusLine(t *testing.T) {
	systemdtest.Require(t)
	bin := systemdtest.BuildBinaries(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	name, _ := enableSite(t, "status", `site "%s" {
  listen   = ["`+addr+`"]
  protocol = "http"
  command  = ["`+helloWorker(t, bin)+`"]
}`)
	svc := "zsm@" + name + ".service"
	const requests = 5
	for range requests {
		expectHello(t, "tcp", addr)
	}
	var text string
	systemdtest.Eventually(t, 10*time.Second, fmt.Sprintf("a STATUS= line with at least %d served, none busy or queued", requests), func() bool {
		text = showValue(t, svc, "StatusText")
		m := statusLine.FindStringSubmatch(text)
		if m == nil {
			return false
		}
		n := make([]int, 4)
		for i := range n {
			n[i], _ = strconv.Atoi(m[i+1])
		}
		workers, busy, queued, served := n[0], n[1], n[2], n[3]
		return workers >= 1 && busy == 0 && queued == 0 && served >= requests
	})
	t.Logf("StatusText=%s", text)
	if out := systemdtest.Systemctl(t, "status", svc); !regexp.MustCompile(`(?m)^ *Status: "\d+ workers, `).MatchString(out) {
		t.Errorf("systemctl --user status %s does not show the STATUS= line:\n%s", svc, out)
	}
}
