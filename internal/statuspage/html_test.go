package statuspage

import (
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zsm-dev/zsm/internal/status"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// get serves one GET of target from h and returns the response.
func get(t *testing.T, h http.Handler, target string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec.Result()
}

// body reads a recorded response's body.
func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHTML(t *testing.T) {
	// Every page says when it was made and that it refreshes itself.
	always := []string{
		`<meta http-equiv="refresh" content="5">`,
		`<meta name="viewport" content="width=device-width, initial-scale=1">`,
		`<time datetime="2026-03-14T15:09:26Z">2026-03-14 15:09:26 UTC</time>`,
		"this page reloads every 5 seconds",
		`<a href="?json">JSON</a>`,
		`<a href="metrics">Prometheus metrics</a>`,
	}
	tests := []struct {
		name    string
		sites   []status.Site
		history *History
		want    []string
		notWant []string
	}{
		{
			name:  "cold",
			sites: []status.Site{coldSite()},
			want: []string{
				"<title>zsm status: wiki (cold)</title>",
				`<span class="badge tone-info">cold</span>`,
				"no worker; the next connection starts one",
				`<span class="badge tone-ok">closed</span>`,
				"<dd>listen</dd>", "<dd>1</dd>", "<dd>0 (0 ready)</dd>",
				"<b>12</b><span>accepted</span>",
				"No workers.",
			},
			notWant: []string{`class="lasterror"`, `class="card summary"`, "<tbody>"},
		},
		{
			name:  "running",
			sites: []status.Site{runningSite()},
			want: []string{
				"<title>zsm status: blog (running)</title>",
				`<section class="card site edge-ok" id="site-1">`,
				`<span class="badge tone-ok">running</span>`,
				"<dd>handoff</dd>", "<dd>3</dd>", "<dd>2 (1 ready)</dd>",
				"<b>18,342</b><span>accepted</span>",
				"<b>18,330</b><span>served</span>",
				"<b>3</b><span>active</span>",
				`<div class="counter"><b>0</b><span>queued</span>`,
				`<div class="counter warn"><b>7</b><span>shed</span>`,
				`<div class="counter bad"><b>2</b><span>failed</span>`,
				`<div class="counter warn"><b>1</b><span>restarts</span>`,
				`<tr><td class="pid">41237</td><td><span class="badge tone-ok">ready</span></td><td class="num" title="busy 2 of 3 held">2</td><td class="num">3</td><td class="num">18,291</td><td class="num" title="started 2026-03-14 12:56:21 UTC">2h 13m</td><td class="num">48.2 MiB</td></tr>`,
				`<tr><td class="pid">41290</td><td><span class="badge tone-warn">starting</span></td><td class="num" title="busy 0 of 0 held">0</td><td class="num">0</td><td class="num">0</td><td class="num" title="started 2026-03-14 15:09:23 UTC">3s</td><td class="num">6.1 MiB</td></tr>`,
				// The accept queues, one not known (a unix socket without sock_diag).
				`<tr><td class="pid">127.0.0.1:8080</td><td class="num"><span class="badge tone-ok">5</span></td><td class="num">4,096</td></tr>`,
				`<tr><td class="pid">unix:blog.sock</td><td class="num"><span class="badge tone-muted">–</span></td><td class="num">unknown</td></tr>`,
				// The histograms' 99th percentiles: 2 of 18,340 over 1 s.
				"<div><dt>queue wait p99</dt><dd>≤ 500 µs</dd></div>",
				"<div><dt>handoff p99</dt><dd>≤ 500 µs</dd></div>",
			},
			notWant: []string{`class="lasterror"`, `class="card summary"`, "No workers.", `class="spark"`},
		},
		{
			name:    "collecting",
			sites:   []status.Site{runningSite()},
			history: NewHistory(),
			want: []string{
				"<h3>Last 15 minutes</h3>",
				"Graphs appear once two samples are taken, one every 10 seconds.",
			},
			notWant: []string{`class="spark"`},
		},
		{
			name:    "graphs",
			sites:   []status.Site{runningSite()},
			history: busyHistory(),
			want: []string{
				"<h3>Last 15 minutes</h3>",
				// The last sample: 30 connections a second (no worker reports
				// requests), 2 busy workers, 5 connections waiting in the
				// broker and 3 in the kernel's accept queue.
				`<figcaption><span>connections/s</span> <b>30.0</b> <span>max 30.0</span></figcaption>`,
				`<figcaption><span>busy workers</span> <b>2</b> <span>max 2</span></figcaption>`,
				`<figcaption><span>waiting connections</span> <b>8</b> <span>max 8</span></figcaption>`,
				`<svg class="spark" width="240" height="48" viewBox="0 0 240 48" role="img"`,
				// the line ends at the right edge, at the top of its scale
				` L240.0,2.0"/></svg>`,
			},
		},
		{
			name:  "failing",
			sites: []status.Site{failingSite()},
			want: []string{
				`<section class="card site edge-bad" id="site-1">`,
				`<span class="badge tone-bad">failing</span>`,
				`<span class="badge tone-bad">open</span>`,
				"breaker open: workers cannot start",
				// The last error, in full and escaped.
				`<pre>worker &#34;/srv/api/bin/app --port 8080&#34; exited with status 1 before it was ready, 5 times in 30s; breaker open for 60s: ` +
					`stderr: panic: bad config value &lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt; &amp; more</pre>`,
				`<div class="counter bad"><b>3</b><span>failed</span>`,
				`<div class="counter warn"><b>5</b><span>restarts</span>`,
			},
			notWant: []string{"<script", `alert("pwned")`},
		},
		{
			name:  "host",
			sites: host(),
			want: []string{
				"<title>zsm status: 3 sites</title>",
				`<h2>3 sites <span class="badge tone-bad">1 failing</span> <span class="badge tone-ok">1 running</span> <span class="badge tone-info">1 cold</span></h2>`,
				// sorted by name, each linking to its section
				`<tr><td><a href="#site-1">api</a></td>`,
				`<tr><td><a href="#site-2">blog</a></td>`,
				`<tr><td><a href="#site-3">wiki</a></td>`,
				`id="site-1"`, `id="site-2"`, `id="site-3"`,
			},
			notWant: []string{"<script"},
		},
		{
			name:  "brokerless",
			sites: []status.Site{socketFailedSite(), runningSite(), idleSite()},
			want: []string{
				`<h2>3 sites <span class="badge tone-bad">1 socket-failed</span> <span class="badge tone-ok">1 running</span> <span class="badge tone-info">1 idle</span></h2>`,
				// In the summary, what systemd does instead of the counters.
				`<tr><td><a href="#site-2">docs</a></td><td><span class="badge tone-info">idle</span></td><td colspan="9">127.0.0.1:8081, /run/user/1000/docs.sock</td></tr>`,
				`<tr><td><a href="#site-3">shop</a></td><td><span class="badge tone-bad">socket-failed</span></td><td colspan="9">socket failed: resources: Failed to create listening socket (127.0.0.1:8082): Address already in use</td></tr>`,
				`<section class="card site edge-info" id="site-2">`,
				"no broker runs; systemd listens, and the next connection starts one",
				"<div><dt>Listen</dt><dd>127.0.0.1:8081, /run/user/1000/docs.sock</dd></div>",
				`<section class="card site edge-bad" id="site-3">`,
				"systemd could not listen on the site&#39;s sockets: nothing answers",
				"<pre>socket failed: resources: Failed to create listening socket (127.0.0.1:8082): Address already in use</pre>",
			},
		},
		{
			name:  "empty",
			sites: nil,
			want:  []string{"<title>zsm status: no site</title>", "No site is running."},
		},
		{
			name: "hostile-name",
			sites: []status.Site{{
				Site: `<img src=x onerror="alert(1)">`, Mode: `"><b>`, State: `<i>odd</i>`, Breaker: "'",
				Workers: []status.Worker{{Pid: 7, State: `<u>x</u>`}},
			}},
			want: []string{
				`<span class="name">&lt;img src=x onerror=&#34;alert(1)&#34;&gt;</span>`,
				`<span class="badge tone-muted">&lt;i&gt;odd&lt;/i&gt;</span>`,
				`<dd>&#34;&gt;&lt;b&gt;</dd>`,
				`<span class="badge tone-muted">&lt;u&gt;x&lt;/u&gt;</span>`,
			},
			notWant: []string{"<img", "<i>", "<u>", `<dd>"><b>`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandler(fixed(tt.sites...), func() time.Time { return testNow })
			h.history = tt.history
			resp := get(t, h, "/")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			got := body(t, resp)
			for _, w := range append(always, tt.want...) {
				if !strings.Contains(got, w) {
					t.Errorf("page lacks %s", w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(got, w) {
					t.Errorf("page has %s", w)
				}
			}
			golden := filepath.Join("testdata", tt.name+".html")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("page differs from %s (-want +got), go test -update refreshes it:\n%s", golden, diff)
			}
		})
	}
}

func TestAge(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"},
		{0, "0s"},
		{59*time.Second + 999*time.Millisecond, "59s"},
		{time.Minute, "1m 00s"},
		{4*time.Minute + 12*time.Second, "4m 12s"},
		{time.Hour, "1h 00m"},
		{23*time.Hour + 59*time.Minute + 59*time.Second, "23h 59m"},
		{24 * time.Hour, "1d 0h"},
		{50*time.Hour + 30*time.Minute, "2d 2h"},
	}
	for _, tt := range tests {
		if got := age(tt.d); got != tt.want {
			t.Errorf("age(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestIECBytes(t *testing.T) {
	tests := []struct {
		n    uint64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{1536, "1.5 KiB"},
		{50_541_773, "48.2 MiB"},
		{3 << 30, "3.0 GiB"},
		{5 << 40, "5.0 TiB"},
		{5 << 50, "5120.0 TiB"},
	}
	for _, tt := range tests {
		if got := iecBytes(tt.n); got != tt.want {
			t.Errorf("iecBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestGroupDigits(t *testing.T) {
	tests := []struct {
		n    any
		want string
	}{
		{uint64(0), "0"},
		{uint64(999), "999"},
		{uint64(1000), "1,000"},
		{uint32(18342), "18,342"},
		{uint64(1234567), "1,234,567"},
		{uint64(18446744073709551615), "18,446,744,073,709,551,615"},
		{1000000, "1,000,000"},
	}
	for _, tt := range tests {
		if got := groupDigits(tt.n); got != tt.want {
			t.Errorf("groupDigits(%v) = %q, want %q", tt.n, got, tt.want)
		}
	}
}
