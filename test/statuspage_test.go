package test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/zsm-dev/zsm/internal/busapi"
	"github.com/zsm-dev/zsm/internal/status"
	"github.com/zsm-dev/zsm/test/systemdtest"
)

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

	// The site's own page.
	site := fmt.Sprintf("http://127.0.0.1:%d", statusPort)
	if html := httpGet(t, site+"/"); !strings.Contains(html, s.name) || !strings.Contains(html, pid) {
		t.Errorf("the site's page lacks its name or worker %s", pid)
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
