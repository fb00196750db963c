package broker

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/internal/config"
)

// BenchmarkModes measures requests/s of the same HTTP app served directly
// (it binds the port itself) and behind the broker in each mode, with a
// kept-alive connection and with a new connection per request. Run the
// cases in one go so their ratios compare like with like:
//
//	go test -run '^$' -bench Modes -benchtime 3s ./broker
func BenchmarkModes(b *testing.B) {
	for _, conn := range []string{"keepalive", "newconn"} {
		b.Run("direct/"+conn, func(b *testing.B) {
			load(b, directServer(b), conn == "keepalive")
		})
		// Peers that forward TCP, in front of the same app.
		b.Run("haproxy/"+conn, func(b *testing.B) {
			backend := directServer(b)
			port := freePort(b)
			cfg := filepath.Join(b.TempDir(), "haproxy.cfg")
			os.WriteFile(cfg, []byte(fmt.Sprintf(`global
  maxconn 4096
  nbthread 1
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
listen bench
  bind 127.0.0.1:%d
  server app %s
`, port, backend)), 0o600)
			load(b, startPeer(b, port, "haproxy", "-db", "-f", cfg), conn == "keepalive")
		})
		b.Run("socket-proxyd/"+conn, func(b *testing.B) {
			backend := directServer(b)
			port := freePort(b)
			load(b, startPeer(b, port, "systemd-socket-activate", "-l", fmt.Sprintf("127.0.0.1:%d", port),
				"/usr/lib/systemd/systemd-socket-proxyd", backend), conn == "keepalive")
		})
		for _, mode := range []config.Mode{config.Handoff, config.Listen, config.Proxy} {
			b.Run(string(mode)+"/"+conn, func(b *testing.B) {
				load(b, zsmServe(b, mode), conn == "keepalive")
			})
		}
	}
}

var zsmBinary struct {
	once sync.Once
	path string
	err  error
}

// zsmServe runs the real broker, `zsm serve`, as its own process in front
// of one worker of this test binary, as users run it; it returns the
// site's address once a first request has been served.
func zsmServe(b *testing.B, mode config.Mode) string {
	b.Helper()
	zsmBinary.once.Do(func() {
		dir, err := os.MkdirTemp("", "zsm-bench-")
		if err != nil {
			zsmBinary.err = err
			return
		}
		zsmBinary.path = filepath.Join(dir, "zsm")
		out, err := exec.Command("go", "build", "-o", zsmBinary.path, "../cmd/zsm").CombinedOutput()
		if err != nil {
			zsmBinary.err = fmt.Errorf("building zsm: %v\n%s", err, out)
		}
	})
	if zsmBinary.err != nil {
		b.Fatal(zsmBinary.err)
	}
	kind := map[config.Mode]string{config.Handoff: "http", config.Listen: "listen", config.Proxy: "backend"}[mode]
	port := freePort(b)
	backend := ""
	if mode == config.Proxy {
		backend = fmt.Sprintf("backend {\n    address = \"127.0.0.1:{port}\"\n    ports = \"%d\"\n  }", freePort(b))
	}
	cfg := filepath.Join(b.TempDir(), "bench.hcl")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`site "bench" {
  listen      = ["127.0.0.1:%d"]
  mode        = "%s"
  protocol    = "http"
  command     = [%q, "-test.run=^$"]
  environment = { ZSM_TEST_WORKER = %q }
  pool {
    min_idle = %d
    max      = %d
    queue    = 1024
  }
  %s
}
`, port, mode, os.Args[0], kind, benchWorkers, benchWorkers, backend)), 0o600)
	cmd := exec.Command(zsmBinary.path, "serve", "--config", cfg, "--site", "bench")
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+b.TempDir())
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	eventually(b, 10*time.Second, "zsm serve to serve", func() bool {
		code, _, err := get(addr, "/")
		return err == nil && code == 200
	})
	return addr
}

// directServer starts the app binding its own port; it returns the address.
func directServer(b *testing.B) string {
	port := freePort(b)
	return startPeer(b, port, os.Args[0], "-test.run=^$")
}

// startPeer runs a server command until the benchmark ends and waits for
// port to answer. A missing command skips the benchmark.
func startPeer(b *testing.B, port int, name string, args ...string) string {
	b.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		b.Skipf("%s not installed (Debian: apt-get install %s)", name, name)
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), "ZSM_TEST_WORKER=backend", "PORT="+strconv.Itoa(port))
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := "127.0.0.1:" + strconv.Itoa(port)
	eventually(b, 10*time.Second, name+" to answer", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr
}

// load runs b.N requests from parallel clients and reports requests/s.
func load(b *testing.B, addr string, keepAlive bool) {
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var c net.Conn
		var br *bufio.Reader
		for pb.Next() {
			if c == nil {
				var err error
				if c, err = net.Dial("tcp", addr); err != nil {
					b.Error(err)
					return
				}
				br = bufio.NewReader(c)
			}
			hdr := "Connection: close\r\n"
			if keepAlive {
				hdr = ""
			}
			if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n%s\r\n", hdr); err != nil {
				b.Error(err)
				return
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
			if !keepAlive {
				c.Close()
				c = nil
			}
		}
		if c != nil {
			c.Close()
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}

// benchWorkers is the pool size behind the broker in BenchmarkModes.
var benchWorkers = 1
