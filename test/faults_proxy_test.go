package test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/internal/proc"
	"github.com/zsm-dev/zsm/test/systemdtest"
)

// Proxy mode with the unmodified servers users run: nginx (a master
// process with worker children; SIGQUIT is its graceful stop), Python's
// http.server (an accept queue of 5), and a backend that accepts and
// never answers.
func faultProxy(t *testing.T, rep *reliability) {
	t.Run("nginx-reload", func(t *testing.T) {
		r := rep.row(t, "5 `systemctl --user reload` of an nginx site (master and 2 workers per instance, `stop_signal = \"QUIT\"`, 2 instances on 4 ports)",
			"8 keep-alive clients (Go's net/http, as browsers: a request on a kept-alive connection the server closed is sent again), each response 32 KiB sent over an eighth of a second",
			"Nothing: each new instance starts on a spare port and is ready before an old one stops taking connections; "+
				"the old one gets SIGQUIT after the drain, finishes the responses it is sending and closes its idle "+
				"kept-alive connections, which clients open again.")
		nginxReload(t, r)
	})
	t.Run("nginx-master-kill9", func(t *testing.T) {
		r := rep.row(t, "SIGKILL to the master of an nginx instance (its workers hold the port); one instance",
			"4 clients, a new connection per request",
			"Requests in flight in the killed instance end with a close (at most two per client: the one in flight, and one sent before the broker learnt of the death); the others wait for "+
				"a new instance and get 200: the dead instance's process group is killed before its port is given to the "+
				"replacement, which is ready only once it holds the port itself.")
		nginxKill9(t, r)
	})
	t.Run("small-backlog-burst", func(t *testing.T) {
		r := rep.row(t, "the bundled example contrib/examples/proxy.hcl: two `python3 -m http.server` (listen backlog 5)",
			"200 clients at once on a warm site, each a new connection, 20 s deadline",
			"A 200 each: each instance is given at most its backlog of connections at once (maxconn), the rest wait in the broker's queue.")
		smallBacklogBurst(t, r)
	})
	t.Run("mute-backend", func(t *testing.T) {
		r := rep.row(t, "a backend that accepts connections and never answers; `timeouts.first_byte = \"2s\"`",
			"4 requests one after the other",
			"A `504 Gateway Timeout` after first_byte, saying the backend did not answer.")
		muteBackend(t, r)
	})
}

// nginxSite writes an nginx configuration for each of ports into a new
// directory and returns a site block (%s for its name) running them as
// instances, with extra lines.
func nginxSite(t *testing.T, addr string, ports []int, instances int, extra string) string {
	t.Helper()
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		for _, p := range []string{"/usr/sbin/nginx", "/sbin/nginx"} {
			if _, err := os.Stat(p); err == nil {
				nginx = p
			}
		}
	}
	if nginx == "" {
		t.Fatal("nginx is needed (.ci/deps installs nginx-light)")
	}
	dir := t.TempDir()
	// /slow sends 32 KiB at 256 KiB/s: a request that is in flight for
	// an eighth of a second, which a fast stop would cut.
	writeFile(t, filepath.Join(dir, "big"), strings.Repeat("z", 32<<10))
	// A master started as root runs its workers as nobody, who cannot
	// read the test's directory: keep them root.
	workerUser := ""
	if os.Geteuid() == 0 {
		workerUser = "user root;"
	}
	for _, port := range ports {
		conf := fmt.Sprintf(`daemon off;
%[3]s
master_process on;
worker_processes 2;
pid %[1]s/nginx-%[2]d.pid;
error_log stderr warn;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path %[1]s/body-%[2]d;
  proxy_temp_path %[1]s/proxy-%[2]d;
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:%[2]d;
    location / { return 200 "nginx\n"; }
    location /slow { limit_rate 256k; alias %[1]s/big; }
  }
}
`, dir, port, workerUser)
		writeFile(t, filepath.Join(dir, fmt.Sprintf("nginx-%d.conf", port)), conf)
	}
	var ps []string
	for _, p := range ports {
		ps = append(ps, strconv.Itoa(p))
	}
	cmd := strings.Join([]string{strconv.Quote(nginx), `"-p"`, strconv.Quote(dir), `"-c"`, strconv.Quote(dir + "/nginx-{port}.conf")}, ", ")
	return commandSite(addr, cmd, fmt.Sprintf("  mode        = \"proxy\"\n  stop_signal = \"QUIT\"\n  backend {\n    address   = \"127.0.0.1:{port}\"\n    ports     = %q\n    instances = %d\n  }\n%s",
		strings.Join(ps, ","), instances, extra))
}

// nginxReload reloads an nginx site 5 times under keep-alive load.
func nginxReload(t *testing.T, r *row) {
	addr := loopback(t)
	name, _ := faultSite(t, "nginx", nginxSite(t, addr, freePorts(t, 4), 2, "  timeouts {\n    drain = \"1s\"\n  }\n"))
	svc := "zsm@" + name + ".service"
	kt := startBrowsers(t, "http://"+addr+"/slow", 8)
	kt.progress(t, 40)
	at := time.Now()
	for range 5 {
		systemdtest.Systemctl(t, "reload", svc)
		kt.progress(t, 40)
	}
	took := time.Since(at)
	tl := kt.end()
	r.fill(tl)
	r.recovery = fmt.Sprintf("5 reloads in %s", took.Round(10*time.Millisecond))
	t.Logf("%s: %s", r.name, tl)
	if tl.count(sawOK) != tl.total() {
		r.errorf(t, "reloads under keep-alive load must fail no request: %s", tl)
	}
	st, err := siteStatus(name)
	if err != nil || st.Generation != 5 {
		r.errorf(t, "after 5 reloads: generation %d, %v", st.Generation, err)
	}
	// The clients keep their idle connections open, as browsers do: the
	// stopping instances must not wait for them until the stop timeout.
	at = time.Now()
	systemdtest.Systemctl(t, "stop", svc)
	if res := showValue(t, svc, "Result"); res != "success" {
		r.errorf(t, "the stop of the site ended %q (took %s); want success, with no instance killed", res, time.Since(at).Round(10*time.Millisecond))
	}
}

// nginxKill9 kills an instance's master; a new instance must own the
// port, and nothing of the old one may be left.
func nginxKill9(t *testing.T, r *row) {
	addr := loopback(t)
	ports := freePorts(t, 1)
	name, _ := faultSite(t, "nginx9", nginxSite(t, addr, ports, 1, ""))
	if o := askNew(addr, clientLimit); o.kind != sawOK {
		t.Fatalf("first request: %s %s", o.kind, o.reason)
	}
	master := lookupProcess(t, settled(t, name, 1)[0])
	old := append(children(t, master.pid), master)
	if len(old) < 3 {
		t.Fatalf("nginx master %v has %d workers; want 2", master, len(old)-1)
	}
	tr := startTraffic(t, addr, 4, 0)
	tr.progress(t, 50)
	if err := syscall.Kill(master.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	var owner proc.Listener
	systemdtest.Eventually(t, 20*time.Second, "a new instance that holds the port", func() bool {
		st, err := siteStatus(name)
		pids := workersIn(st, "ready")
		if err != nil || len(pids) != 1 || pids[0] == master.pid {
			return false
		}
		l, ok, _ := proc.ListenerIn(pids[0], ports[0])
		owner = l
		return ok
	})
	back := time.Since(at)
	tr.progress(t, 50)
	tl := tr.end()
	r.fill(tl)
	left := slices.DeleteFunc(old, func(p process) bool { return !p.alive() })
	r.recovery = fmt.Sprintf("a new instance held the port %s after the kill (held by pid %d); %d of %d old processes left",
		back.Round(10*time.Millisecond), owner.Pid, len(left), len(old))
	t.Logf("%s: %s; %s", r.name, tl, r.recovery)
	if len(left) > 0 {
		r.errorf(t, "processes of the killed instance still run: %v", left)
	}
	// A client may lose the request in flight at the kill, and the one it
	// sent before the broker learnt of the death (the workers, orphaned,
	// still accept it until the group is killed): at most two each.
	if n := tl.failed(); n > 2*4 {
		r.errorf(t, "%d requests failed (%s); at most two per client (8)", n, tl)
	}
}

// smallBacklogBurst sends 200 connections at once to the bundled proxy
// example.
func smallBacklogBurst(t *testing.T, r *row) {
	src, err := os.ReadFile(filepath.Join(examplesDir, "proxy.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	out, sites := rewriteExample(t, "proxy.hcl", src)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "proxy.hcl")
	writeFile(t, cfg, string(out))
	name, addr := sites[0].name, sites[0].listen[0]
	t.Cleanup(func() { forgetSnapshot(name) })
	enableSites(t, []string{cfg}, name)
	if o := askNew(addr, clientLimit); o.kind != sawOK {
		t.Fatalf("first request: %s %s", o.kind, o.reason)
	}
	settled(t, name, 2)
	tl := burst(addr, 200, clientLimit)
	r.fill(tl)
	r.recovery = fmt.Sprintf("slowest 200 after %s", tl.slowestOf(sawOK).Round(time.Millisecond))
	t.Logf("%s: %s; %s", r.name, tl, r.recovery)
	if tl.count(sawOK) != 200 {
		r.errorf(t, "the burst: %s; want 200 of 200 served", tl)
	}
}

// mutePy accepts connections and never answers.
const mutePy = `import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(64)
held = []
while True:
    held.append(s.accept()[0])
`

// muteBackend: every request gets the 504 after first_byte.
func muteBackend(t *testing.T, r *row) {
	dir := t.TempDir()
	script := filepath.Join(dir, "mute.py")
	writeFile(t, script, mutePy)
	addr := loopback(t)
	ports := freePorts(t, 1)
	faultSite(t, "mute", commandSite(addr, `"python3", `+strconv.Quote(script)+`, "{port}"`,
		fmt.Sprintf("  mode = \"proxy\"\n  backend {\n    address = \"127.0.0.1:{port}\"\n    ports   = \"%d\"\n  }\n  timeouts {\n    first_byte = \"2s\"\n  }\n", ports[0])))
	tl := newTally()
	for range 4 {
		tl.add(askNew(addr, clientLimit))
	}
	r.fill(tl)
	r.recovery = fmt.Sprintf("slowest 504 after %s", tl.slowestOf(saw504).Round(10*time.Millisecond))
	t.Logf("%s: %s; %s", r.name, tl, r.recovery)
	if tl.count(saw504) != 4 {
		r.errorf(t, "want 4 × 504 from a backend that never answers: %s", tl)
	}
	if d := tl.slowestOf(saw504); d > 5*time.Second {
		r.errorf(t, "the slowest 504 came after %s; first_byte is 2s", d)
	}
}

// startBrowsers runs n clients that keep their connections as browsers
// and Go's net/http do: a request sent on a kept-alive connection that the
// server closed meanwhile is sent again on a new one. They run until the
// traffic is ended, or the end of the test.
func startBrowsers(t *testing.T, url string, n int) *traffic {
	t.Helper()
	tr := &traffic{tally: newTally(), stop: make(chan struct{})}
	client := &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: n, DisableCompression: true},
		Timeout:   clientLimit,
	}
	deadline := time.Now().Add(trafficLimit)
	for range n {
		tr.wg.Go(func() {
			for time.Now().Before(deadline) {
				select {
				case <-tr.stop:
					return
				default:
				}
				start := time.Now()
				var o outcome
				resp, err := client.Get(url)
				if err != nil {
					o = classify(err)
				} else {
					_, err := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					switch {
					case err != nil:
						o = classify(err) // the answer was cut
					case resp.StatusCode != 200:
						o.kind = "status " + strconv.Itoa(resp.StatusCode)
					default:
						o.kind = sawOK
					}
				}
				o.took = time.Since(start)
				tr.count(o)
			}
		})
	}
	t.Cleanup(func() { tr.end() })
	return tr
}
