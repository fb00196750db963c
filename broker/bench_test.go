package broker

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
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
			port := freePort(b)
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), "ZSM_TEST_WORKER=backend", "PORT="+strconv.Itoa(port))
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			addr := "127.0.0.1:" + strconv.Itoa(port)
			eventually(b, 10*time.Second, "the direct server", func() bool {
				c, err := net.Dial("tcp", addr)
				if err == nil {
					c.Close()
				}
				return err == nil
			})
			load(b, addr, conn == "keepalive")
		})
		for _, mode := range []config.Mode{config.Handoff, config.Listen, config.Proxy} {
			b.Run(string(mode)+"/"+conn, func(b *testing.B) {
				kind := map[config.Mode]string{config.Handoff: "http", config.Listen: "listen", config.Proxy: "backend"}[mode]
				s := testSite(b, mode, kind)
				s.Pool = config.Pool{MinIdle: 2, Max: 2, Queue: 1024}
				if mode == config.Proxy {
					s.Backend.Ports = s.Backend.Ports[:1]
				}
				r := start(b, s, func(c *Config) { c.Log = nil; c.Stderr = nil })
				if code, _, err := get(r.addr, "/"); err != nil || code != 200 {
					b.Fatalf("warm-up: %d %v", code, err)
				}
				load(b, r.addr, conn == "keepalive")
			})
		}
	}
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
