package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/internal/freeport"
	"github.com/zsm-dev/zsm/internal/loadgen"
	"github.com/zsm-dev/zsm/test/systemdtest"
)

// helloWorker is contrib/workers/hello, built beside the zsm binaries.
func helloWorker(t *testing.T, bin string) string {
	t.Helper()
	return filepath.Join(bin, "hello")
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	p, err := freeport.One()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// site is a site enabled through the real user manager.
type site struct {
	name string
}

// enable writes body (a site block with %s for the name) to a config file,
// runs `zsmgen units` on it and enables the site's socket, as a user would.
func enable(t *testing.T, prefix, body string) site {
	t.Helper()
	bin := systemdtest.BuildBinaries(t)
	unitDir := systemdtest.UnitDir(t)
	name := uniqueName(t, prefix)
	cfg := filepath.Join(t.TempDir(), "site.hcl")
	writeFile(t, cfg, fmt.Sprintf(body, name))

	out, err := exec.Command(filepath.Join(bin, "zsmgen"), "units", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("zsmgen units: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(unitDir, "zsm@"+name+".socket.d", "zsmgen.conf")); err != nil {
		t.Fatalf("zsmgen units wrote no drop-in into the user's unit dir: %v\n%s", err, out)
	}
	systemdtest.Systemctl(t, "daemon-reload")
	systemdtest.Systemctl(t, "enable", "--now", "zsm@"+name+".socket")
	t.Cleanup(func() {
		systemdtest.Systemctl(t, "disable", "--now", "zsm@"+name+".socket", "zsm@"+name+".service")
		if t.Failed() {
			t.Logf("journal of zsm@%s.service:\n%s", name,
				systemdtest.Journal(t, "--no-pager", "--user-unit=zsm@"+name+".service"))
		}
	})
	return site{name: name}
}

func unitState(t *testing.T, unit string) string {
	t.Helper()
	out, _ := exec.Command("systemctl", "--user", "is-active", unit).Output()
	return strings.TrimSpace(string(out))
}

// get sends one request on a new connection, with no retry.
func get(network, addr string) (int, string, error) {
	return loadgen.Get(network, addr, "/")
}

// TestSocketUnitListens: zsmgen's units, enabled as a user would, make
// systemd listen on every configured address before any broker runs.
func TestSocketUnitListens(t *testing.T) {
	systemdtest.Require(t)
	bin := systemdtest.BuildBinaries(t)
	port := freePort(t)
	s := enable(t, "listens", `site "%s" {
  listen   = ["127.0.0.1:`+fmt.Sprint(port)+`", "unix:e2e-listens.sock"]
  command  = ["`+helloWorker(t, bin)+`"]
  protocol = "http"
}`)
	listen := systemdtest.Systemctl(t, "show", "-p", "Listen", "zsm@"+s.name+".socket")
	sock := filepath.Join(os.Getenv("XDG_RUNTIME_DIR"), "e2e-listens.sock")
	for _, want := range []string{fmt.Sprintf("127.0.0.1:%d (Stream)", port), sock + " (Stream)"} {
		if !strings.Contains(listen, want) {
			t.Errorf("socket unit listens on %q; want %q among them", strings.TrimSpace(listen), want)
		}
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("unix socket %s: %v, mode %v; want 0600", sock, err, fi.Mode().Perm())
	}
	if st := unitState(t, "zsm@"+s.name+".service"); st != "inactive" {
		t.Fatalf("broker is %s before any connection; want inactive", st)
	}
	// Both addresses answer, through the broker systemd starts.
	for _, a := range [][2]string{{"tcp", fmt.Sprintf("127.0.0.1:%d", port)}, {"unix", sock}} {
		code, body, err := get(a[0], a[1])
		if err != nil || code != 200 || body != "hello\n" {
			t.Errorf("GET over %s %s: %d %q %v", a[0], a[1], code, body, err)
		}
	}
}

// TestFirstConnection: for each mode and kind of app, no broker or worker
// runs until the first connection, which starts both and is served.
func TestFirstConnection(t *testing.T) {
	systemdtest.Require(t)
	bin := systemdtest.BuildBinaries(t)
	py, err := filepath.Abs("../contrib/workers/python/hello_worker.py")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatal("python3 is needed for the Python worker and the unmodified server")
	}
	tests := []struct {
		name, block, want string
	}{
		{"handoff-go", `mode = "handoff"
  command = ["` + helloWorker(t, bin) + `"]`, "hello\n"},
		{"handoff-python", `mode = "handoff"
  command = ["python3", "` + py + `"]`, "hello from python\n"},
		{"listen-go", `mode = "listen"
  command = ["` + helloWorker(t, bin) + `"]`, "hello\n"},
		{"proxy-unmodified", `mode = "proxy"
  command = ["python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory", "` + filepath.Dir(py) + `", "{port}"]
  backend {
    address = "127.0.0.1:{port}"
    ports   = "` + fmt.Sprintf("%d,%d", freePort(t), freePort(t)) + `"
  }`, "hello_worker.py"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port := freePort(t)
			s := enable(t, "first-"+tt.name, `site "%s" {
  listen   = ["127.0.0.1:`+fmt.Sprint(port)+`"]
  protocol = "http"
  `+tt.block+`
}`)
			svc := "zsm@" + s.name + ".service"
			if st := unitState(t, svc); st != "inactive" {
				t.Fatalf("broker is %s before any connection; want inactive", st)
			}
			if n := countProcs(t, s.name); n != 0 {
				t.Fatalf("%d brokers of the site run before any connection", n)
			}
			code, body, err := get("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil || code != 200 || !strings.Contains(body, tt.want) {
				t.Fatalf("first request: %d %q %v; want 200 with %q", code, body, err, tt.want)
			}
			if st := unitState(t, svc); st != "active" {
				t.Errorf("broker is %s after the first connection; want active", st)
			}
			if n := countProcs(t, s.name); n != 1 {
				t.Errorf("%d brokers of the site run after the first connection; want 1", n)
			}
			systemdtest.Eventually(t, 10*time.Second, "a STATUS= line with the served count", func() bool {
				out, _ := exec.Command("systemctl", "--user", "show", "-p", "StatusText", svc).Output()
				return strings.Contains(string(out), "served")
			})
		})
	}
}

// countProcs counts the site's brokers: processes running
// `zsm serve --site NAME`.
func countProcs(t *testing.T, name string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), "serve\x00--site\x00"+name+"\x00") {
			n++
		}
	}
	return n
}

// TestColdBurst: 200 connections opened at once against a cold site are
// all served, none refused.
func TestColdBurst(t *testing.T) {
	systemdtest.Require(t)
	bin := systemdtest.BuildBinaries(t)
	port := freePort(t)
	s := enable(t, "burst", `site "%s" {
  listen   = ["127.0.0.1:`+fmt.Sprint(port)+`"]
  protocol = "http"
  command  = ["`+helloWorker(t, bin)+`"]
}`)
	if st := unitState(t, "zsm@"+s.name+".service"); st != "inactive" {
		t.Fatalf("broker is %s before the burst; want inactive", st)
	}
	const n = 200
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			code, body, err := get("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err == nil && (code != 200 || body != "hello\n") {
				err = fmt.Errorf("%d %q", code, body)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			if failed++; failed <= 3 {
				t.Error(err)
			}
		}
	}
	t.Logf("cold burst: %d of %d served", n-failed, n)
	if failed > 0 {
		t.Fatalf("%d of %d connections failed", failed, n)
	}
}
