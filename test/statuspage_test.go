package test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/zsm-dev/zsm/internal/busapi"
	"github.com/zsm-dev/zsm/internal/status"
	"github.com/zsm-dev/zsm/test/systemdtest"
)

// holdConnection opens a connection to the site on port and sends part
// of a request, so that a worker holds it, and waits for the bus to say
// so: one worker with one connection held and busy.
func holdConnection(t *testing.T, conn *dbus.Conn, name string, path dbus.ObjectPath, port int) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\n")); err != nil {
		t.Fatal(err)
	}
	systemdtest.Eventually(t, 10*time.Second, "a worker holding the connection", func() bool {
		st, err := busapi.Get(conn, name, path)
		if err != nil {
			return false
		}
		var held, busy uint32
		for _, w := range st.Workers {
			held, busy = held+w.Held, busy+w.Busy
		}
		return held == 1 && busy == 1
	})
	return c
}

// checkNowMetrics: /metrics says what the site does now, with the one
// connection held (holdConnection) after three requests.
func checkNowMetrics(t *testing.T, families map[string]*dto.MetricFamily) {
	t.Helper()
	sum := func(name string) (v float64) {
		for _, m := range families[name].GetMetric() {
			v += m.GetGauge().GetValue()
		}
		return v
	}
	if sum("zsm_worker_connections_held") != 1 || sum("zsm_workers_busy") != 1 {
		t.Errorf("zsm_worker_connections_held %v, zsm_workers_busy %v; want 1 and 1",
			families["zsm_worker_connections_held"], families["zsm_workers_busy"])
	}
	if sum("zsm_listen_backlog") == 0 || len(families["zsm_listen_queue"].GetMetric()) != 1 {
		t.Errorf("zsm_listen_backlog %v, zsm_listen_queue %v", families["zsm_listen_backlog"], families["zsm_listen_queue"])
	}
	for _, name := range []string{"zsm_queue_wait_seconds", "zsm_handoff_latency_seconds"} {
		f := families[name]
		if f.GetType() != dto.MetricType_HISTOGRAM || len(f.GetMetric()) != 1 || f.GetMetric()[0].GetHistogram().GetSampleCount() < 4 {
			t.Errorf("%s: %v, want a histogram of 4 connections at least", name, f)
		}
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

// TestStatusPages: a site's own status page and `zsm status --serve` for
// every site show the live workers, as HTML (loaded in headless Chromium),
// JSON and Prometheus metrics.
func TestStatusPages(t *testing.T) {
	systemdtest.Require(t)
	bin := systemdtest.BuildBinaries(t)
	port, statusPort := freePort(t), freePort(t)
	s := enable(t, "page", `site "%s" {
  listen   = ["127.0.0.1:`+fmt.Sprint(port)+`"]
  protocol = "http"
  command  = ["`+helloWorker(t, bin)+`"]
  status { listen = "127.0.0.1:`+fmt.Sprint(statusPort)+`" }
}`)
	for range 3 {
		if code, _, err := get("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err != nil || code != 200 {
			t.Fatalf("request: %d %v", code, err)
		}
	}
	conn, err := busapi.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	name, path := busapi.Names(s.name)
	var st status.Site
	systemdtest.Eventually(t, 10*time.Second, "the site running with workers", func() bool {
		st, err = busapi.Get(conn, name, path)
		return err == nil && len(st.Workers) > 0 && st.Served >= 3
	})
	pid := fmt.Sprint(st.Workers[0].Pid)
	held := holdConnection(t, conn, name, path, port)
	defer held.Close()

	// The site's own page.
	site := fmt.Sprintf("http://127.0.0.1:%d", statusPort)
	if html := httpGet(t, site+"/"); !strings.Contains(html, s.name) || !strings.Contains(html, pid) {
		t.Errorf("the site's page lacks its name or worker %s", pid)
	} else if !strings.Contains(html, "<h3>Last 15 minutes</h3>") || !strings.Contains(html, "<h3>Listening sockets</h3>") {
		t.Errorf("the site's page lacks its graphs or its listening sockets")
	}
	// zsm status SITE: busy and held per worker, the accept queue, latency.
	out, err := exec.Command(filepath.Join(bin, "zsm"), "status", s.name).CombinedOutput()
	for _, want := range []string{"BUSY  HELD", fmt.Sprintf("accepting:   127.0.0.1:%d 0 waiting (backlog ", port), "latency:     queue wait p99 ≤ "} {
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("zsm status %s lacks %q (%v):\n%s", s.name, want, err, out)
		}
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(httpGet(t, site+"/metrics")))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	served := families["zsm_connections_served_total"]
	if served == nil || len(served.Metric) != 1 || served.Metric[0].GetCounter().GetValue() < 3 {
		t.Errorf("zsm_connections_served_total: %v", served)
	}
	checkNowMetrics(t, families)

	// Every site on the host, from the bus.
	allPort := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "zsm"), "status", "--serve", fmt.Sprintf("127.0.0.1:%d", allPort))
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel() // ends zsm status --serve
		cmd.Wait()
	}()
	all := fmt.Sprintf("http://127.0.0.1:%d", allPort)
	systemdtest.Eventually(t, 10*time.Second, "zsm status --serve to answer", func() bool {
		resp, err := http.Get(all + "/?json")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	if js := httpGet(t, all+"/?json"); !strings.Contains(js, `"Site": "`+s.name+`"`) && !strings.Contains(js, `"Site":"`+s.name+`"`) {
		t.Errorf("zsm status --serve JSON lacks %s:\n%s", s.name, js)
	}

	// The page as a browser shows it.
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is needed to load the page (Debian: apt-get install chromium; make test installs it as root)")
	}
	shot := filepath.Join(t.TempDir(), "status.png")
	browse := func(args ...string) []byte {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--user-data-dir=" + t.TempDir(), "--window-size=1200,900"}
		out, err := exec.CommandContext(ctx, chromium, append(base, args...)...).Output()
		if err != nil {
			t.Fatalf("chromium %v: %v", args, err)
		}
		return out
	}
	dom := browse("--dump-dom", all+"/")
	if !bytes.Contains(dom, []byte(s.name)) || !bytes.Contains(dom, []byte(pid)) {
		t.Errorf("the page in Chromium lacks the site or worker %s", pid)
	}
	if !bytes.Contains(dom, []byte("<h3>Last 15 minutes</h3>")) {
		t.Errorf("the page in Chromium lacks the graphs' section")
	}
	browse("--screenshot="+shot, all+"/")
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil || img.Bounds().Dx() != 1200 {
		t.Fatalf("screenshot: %v %v", img, err)
	}
	t.Logf("screenshot of the live page: %s", shot)
}
