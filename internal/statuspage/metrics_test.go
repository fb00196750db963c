package statuspage

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/zsm-dev/zsm/internal/status"
)

// wantTypes is every family /metrics must have, with its type.
var wantTypes = map[string]dto.MetricType{
	"zsm_connections_accepted_total":   dto.MetricType_COUNTER,
	"zsm_connections_served_total":     dto.MetricType_COUNTER,
	"zsm_connections_shed_total":       dto.MetricType_COUNTER,
	"zsm_connections_failed_total":     dto.MetricType_COUNTER,
	"zsm_worker_restarts_total":        dto.MetricType_COUNTER,
	"zsm_log_dropped_total":            dto.MetricType_COUNTER,
	"zsm_connections_active":           dto.MetricType_GAUGE,
	"zsm_connections_queued":           dto.MetricType_GAUGE,
	"zsm_workers":                      dto.MetricType_GAUGE,
	"zsm_generation":                   dto.MetricType_GAUGE,
	"zsm_up":                           dto.MetricType_GAUGE,
	"zsm_worker_resident_memory_bytes": dto.MetricType_GAUGE,
	"zsm_workers_busy":                 dto.MetricType_GAUGE,
	"zsm_worker_connections_held":      dto.MetricType_GAUGE,
	"zsm_worker_connections_busy":      dto.MetricType_GAUGE,
	"zsm_listen_queue":                 dto.MetricType_GAUGE,
	"zsm_listen_backlog":               dto.MetricType_GAUGE,
	"zsm_queue_wait_seconds":           dto.MetricType_HISTOGRAM,
	"zsm_handoff_latency_seconds":      dto.MetricType_HISTOGRAM,
}

// seriesKey names a series: its metric name and labels, sorted.
func seriesKey(name string, labels map[string]string) string {
	var parts []string
	for k, v := range labels {
		parts = append(parts, k+"="+strconv.Quote(v))
	}
	slices.Sort(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

// wantSeries is what /metrics must say about sites, derived from the
// input alone.
func wantSeries(sites []status.Site) map[string]float64 {
	m := map[string]float64{}
	for _, s := range sites {
		site := map[string]string{"site": s.Site}
		m[seriesKey("zsm_connections_accepted_total", site)] = float64(s.Accepted)
		m[seriesKey("zsm_connections_served_total", site)] = float64(s.Served)
		m[seriesKey("zsm_connections_shed_total", site)] = float64(s.Shed)
		m[seriesKey("zsm_connections_failed_total", site)] = float64(s.Failed)
		m[seriesKey("zsm_worker_restarts_total", site)] = float64(s.Restarts)
		m[seriesKey("zsm_log_dropped_total", site)] = float64(s.LogDropped)
		m[seriesKey("zsm_connections_active", site)] = float64(s.Active)
		m[seriesKey("zsm_connections_queued", site)] = float64(s.Queued)
		m[seriesKey("zsm_generation", site)] = float64(s.Generation)
		up := 0.0
		if s.State == "running" {
			up = 1
		}
		m[seriesKey("zsm_up", map[string]string{"site": s.Site, "state": s.State})] = up
		for _, st := range []string{"starting", "ready", "draining"} {
			m[seriesKey("zsm_workers", map[string]string{"site": s.Site, "state": st})] = 0
		}
		m[seriesKey("zsm_workers_busy", site)] = 0
		for _, w := range s.Workers {
			pid := map[string]string{"site": s.Site, "pid": fmt.Sprint(w.Pid)}
			m[seriesKey("zsm_worker_connections_held", pid)] = float64(w.Held)
			m[seriesKey("zsm_worker_connections_busy", pid)] = float64(w.Busy)
			if w.Busy > 0 {
				m[seriesKey("zsm_workers_busy", site)]++
			}
			m[seriesKey("zsm_workers", map[string]string{"site": s.Site, "state": w.State})]++
			if w.RSS != 0 {
				m[seriesKey("zsm_worker_resident_memory_bytes", map[string]string{"site": s.Site, "pid": fmt.Sprint(w.Pid)})] = float64(w.RSS)
			}
		}
		for _, l := range s.Listeners {
			if l.Backlog != 0 {
				m[seriesKey("zsm_listen_queue", map[string]string{"site": s.Site, "listen": l.Addr})] = float64(l.Queue)
				m[seriesKey("zsm_listen_backlog", map[string]string{"site": s.Site, "listen": l.Addr})] = float64(l.Backlog)
			}
		}
		wantHistogram(m, "zsm_queue_wait_seconds", s.Site, s.QueueWait)
		wantHistogram(m, "zsm_handoff_latency_seconds", s.Site, s.HandoffLatency)
	}
	return m
}

// wantHistogram adds h's series, as gotSeries flattens them: cumulative
// buckets by le, the sum and the count.
func wantHistogram(m map[string]float64, name, site string, h status.Histogram) {
	if len(h.Bounds) == 0 {
		return
	}
	var n uint64
	for i, b := range h.Bounds {
		n += h.Counts[i]
		m[seriesKey(name+"_bucket", map[string]string{"site": site, "le": fmt.Sprint(b)})] = float64(n)
	}
	m[seriesKey(name+"_bucket", map[string]string{"site": site, "le": "+Inf"})] = float64(h.Count())
	m[seriesKey(name+"_sum", map[string]string{"site": site})] = h.Sum
	m[seriesKey(name+"_count", map[string]string{"site": site})] = float64(h.Count())
}

// parse parses text with Prometheus' own parser, strict about names.
func parse(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, text)
	}
	return fams
}

// gotSeries flattens parsed families into series → value.
func gotSeries(t *testing.T, fams map[string]*dto.MetricFamily) map[string]float64 {
	t.Helper()
	m := map[string]float64{}
	for name, f := range fams {
		for _, mt := range f.GetMetric() {
			labels := map[string]string{}
			for _, lp := range mt.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			key := seriesKey(name, labels)
			if _, dup := m[key]; dup {
				t.Errorf("duplicate series %s", key)
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				m[key] = mt.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				m[key] = mt.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				h := mt.GetHistogram()
				for _, b := range h.GetBucket() {
					labels["le"] = fmt.Sprint(b.GetUpperBound())
					m[seriesKey(name+"_bucket", labels)] = float64(b.GetCumulativeCount())
				}
				labels["le"] = "+Inf" // implicit in the parsed form: the count
				m[seriesKey(name+"_bucket", labels)] = float64(h.GetSampleCount())
				delete(labels, "le")
				m[seriesKey(name+"_sum", labels)] = h.GetSampleSum()
				m[seriesKey(name+"_count", labels)] = float64(h.GetSampleCount())
			default:
				t.Errorf("%s: unexpected type %v", name, f.GetType())
			}
		}
	}
	return m
}

func TestMetrics(t *testing.T) {
	tests := []struct {
		name  string
		sites []status.Site
	}{
		{"host", host()},
		{"running", []status.Site{runningSite()}},
		{"cold", []status.Site{coldSite()}},
		{"odd worker state", []status.Site{{Site: "x", State: "stopping", Workers: []status.Worker{
			{Pid: 1, State: "zombie", RSS: 1}, {Pid: 2, State: "ready"}, {Pid: 3, State: "zombie"}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandler(fixed(tt.sites...), func() time.Time { return testNow })
			resp := get(t, h, "/metrics")
			if ct := resp.Header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			text := body(t, resp)
			fams := parse(t, text)
			for name, f := range fams {
				want, ok := wantTypes[name]
				if !ok {
					t.Errorf("unexpected family %s", name)
					continue
				}
				if f.GetType() != want {
					t.Errorf("%s: type %v, want %v", name, f.GetType(), want)
				}
				if f.GetHelp() == "" {
					t.Errorf("%s: no HELP", name)
				}
			}
			// Every family has its HELP and TYPE, even with no sample.
			lines := strings.Split(text, "\n")
			for name, typ := range wantTypes {
				i := slices.Index(lines, "# TYPE "+name+" "+strings.ToLower(typ.String()))
				if i < 1 || !strings.HasPrefix(lines[i-1], "# HELP "+name+" ") {
					t.Errorf("%s: no HELP line followed by TYPE %s", name, strings.ToLower(typ.String()))
				}
			}
			if diff := cmp.Diff(wantSeries(tt.sites), gotSeries(t, fams)); diff != "" {
				t.Errorf("series (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMetricsEveryFamily: with the test host, every family has samples.
func TestMetricsEveryFamily(t *testing.T) {
	fams := parse(t, body(t, get(t, Handler(fixed(host()...)), "/metrics")))
	for name, typ := range wantTypes {
		f, ok := fams[name]
		if !ok {
			t.Errorf("family %s missing", name)
			continue
		}
		if f.GetType() != typ {
			t.Errorf("%s: type %v, want %v", name, f.GetType(), typ)
		}
		for _, m := range f.GetMetric() {
			if !slices.ContainsFunc(m.GetLabel(), func(lp *dto.LabelPair) bool { return lp.GetName() == "site" }) {
				t.Errorf("%s: a series without a site label: %v", name, m)
			}
		}
	}
	up := fams["zsm_up"].GetMetric()
	if len(up) != 3 {
		t.Fatalf("zsm_up has %d series, want one per site", len(up))
	}
}

func TestMetricsLabelEscaping(t *testing.T) {
	tests := []struct{ name, site, wantText string }{
		{"quote and backslash", `we"ird\site`, `site="we\"ird\\site"`},
		{"newline", "two\nlines", `site="two\nlines"`},
		{"all", `a\"b` + "\n" + `\n`, `site="a\\\"b\n\\n"`},
		{"braces and comma", `x},y="z`, `site="x},y=\"z"`},
		{"invalid utf-8", "bad\xffname", `site="bad` + "\uFFFD" + `name"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := runningSite()
			st.Site = tt.site
			text := body(t, get(t, Handler(fixed(st)), "/metrics"))
			if !strings.Contains(text, tt.wantText) {
				t.Errorf("text lacks %s:\n%s", tt.wantText, text)
			}
			wantSite := strings.ToValidUTF8(tt.site, "\uFFFD")
			n := 0
			for name, f := range parse(t, text) {
				for _, m := range f.GetMetric() {
					for _, lp := range m.GetLabel() {
						if lp.GetName() == "site" {
							n++
							if h := m.GetHistogram(); h != nil { // its buckets, +Inf, sum and count
								for _, b := range h.GetBucket() {
									if !math.IsInf(b.GetUpperBound(), 1) {
										n++
									}
								}
								n += 2
							}
							if lp.GetValue() != wantSite {
								t.Errorf("%s: site %q, want %q", name, lp.GetValue(), wantSite)
							}
						}
					}
				}
			}
			if want := len(wantSeries([]status.Site{st})); n != want {
				t.Errorf("%d series carry the site, want %d", n, want)
			}
		})
	}
}

// FuzzMetricsSiteName: whatever a site is called, /metrics parses and
// every series carries the name (made valid UTF-8).
func FuzzMetricsSiteName(f *testing.F) {
	for _, s := range []string{"blog", `we"ird\site`, "a\nb", "", "\xff", `\`, `"`, "# HELP x y", "} 1\nzsm_up 2"} {
		f.Add(s, "running")
	}
	f.Fuzz(func(t *testing.T, site, state string) {
		st := runningSite()
		st.Site, st.State = site, state
		var buf bytes.Buffer
		if err := writeMetrics(&buf, []status.Site{st}, testNow); err != nil {
			t.Fatal(err)
		}
		fams := parse(t, buf.String())
		wantSite := strings.ToValidUTF8(site, "\uFFFD")
		for name, fam := range fams {
			for _, m := range fam.GetMetric() {
				var got string
				for _, lp := range m.GetLabel() {
					if lp.GetName() == "site" {
						got = lp.GetValue()
					}
				}
				if got != wantSite {
					t.Fatalf("%s: site %q, want %q", name, got, wantSite)
				}
			}
		}
		if len(fams) != len(wantTypes) {
			t.Fatalf("%d families, want %d", len(fams), len(wantTypes))
		}
	})
}
