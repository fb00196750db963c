package main

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTargetMet(t *testing.T) {
	tests := []struct {
		name   string
		target Target
		v      float64
		want   bool
	}{
		{"at least, above", atLeast(0.9, "× direct"), 0.95, true},
		{"at least, equal", atLeast(0.9, "× direct"), 0.9, true},
		{"at least, below", atLeast(0.9, "× direct"), 0.89, false},
		{"at most, below", atMost(5, "ms"), 4.9, true},
		{"at most, equal", atMost(5, "ms"), 5, true},
		{"at most, above", atMost(5, "ms"), 5.1, false},
		{"zero failures", Target{Op: "<=", Value: 0, Text: "0 failed"}, 0, true},
		{"one failure", Target{Op: "<=", Value: 0, Text: "0 failed"}, 1, false},
		{"not measured", atLeast(0.9, "× direct"), math.NaN(), false},
		{"not measured, at most", atMost(5, "ms"), math.NaN(), false},
		{"unknown op", Target{Op: "==", Value: 1}, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.target.Met(tt.v); got != tt.want {
				t.Errorf("%+v.Met(%v) = %v, want %v", tt.target, tt.v, got, tt.want)
			}
		})
	}
}

// TestThroughputTargets pins the throughput targets.
func TestThroughputTargets(t *testing.T) {
	tests := []struct {
		conn, target string
		want         []ratioTarget
	}{
		{keepAlive, targetHandoff, []ratioTarget{{"direct", 0.98}}},
		{newConn, targetHandoff, []ratioTarget{{"direct", 0.85}, {"haproxy", 1.3}, {"nginx", 1.0}}},
		{keepAlive, targetListen, []ratioTarget{{"direct", 0.98}}},
		{newConn, targetListen, []ratioTarget{{"direct", 0.95}}},
		{keepAlive, targetProxy, []ratioTarget{{"socket-proxyd", 1.7}}},
		{newConn, targetProxy, []ratioTarget{{"socket-proxyd", 1.7}}},
		{keepAlive, targetDirect, nil},
		{newConn, targetHAProxy, nil},
	}
	for _, tt := range tests {
		got := throughputTargets(tt.conn, tt.target)
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(ratioTarget{})); diff != "" {
			t.Errorf("throughputTargets(%s, %s) (-want +got):\n%s", tt.conn, tt.target, diff)
		}
	}
}

func TestCheckAndSummary(t *testing.T) {
	sc := &Scenario{}
	cells := []string{
		sc.check("a", 0.95, "x", atLeast(0.9, "%.2f× direct", 0.9)),
		sc.check("b", 0.5, "x", atLeast(0.6, "%.2f× direct", 0.6)),
		sc.check("c", math.NaN(), "x", atLeast(1.3, "%.2f× haproxy", 1.3)),
		sc.check("e", 0.998, "x", atLeast(1, "1.00× haproxy")),
		sc.check("g", 0.99996, "x", atLeast(1, "1.00× haproxy")),
		sc.check("f", 1, "x", atLeast(1, "1.00× haproxy")),
	}
	sc.add("d", 12, "req/s")
	for i, want := range []string{"✓ ≥ 0.90× direct (0.95×)", "✗ ≥ 0.60× direct (0.50×)", "? ≥ 1.30× haproxy (not measured)",
		"✗ ≥ 1.00× haproxy (0.998×)", "✗ ≥ 1.00× haproxy (0.99996×)", "✓ ≥ 1.00× haproxy (1.00×)"} {
		if cells[i] != want {
			t.Errorf("cell %d = %q, want %q", i, cells[i], want)
		}
	}
	r := &Results{Scenarios: []*Scenario{sc}}
	r.finish()
	if want := (Summary{Targets: 6, Met: 2, Missed: 3, NotMeasured: 1}); r.Summary != want {
		t.Errorf("summary = %+v, want %+v", r.Summary, want)
	}
	if f := sc.Figures[2]; f.Value != nil || f.Pass != nil {
		t.Errorf("a figure not measured has value %v, pass %v; want both null", f.Value, f.Pass)
	}
	sum := summaryTable(r)
	if len(sum.Rows) != 6 || !strings.Contains(strings.Join(sum.Rows[1], " "), "missed") || sum.Rows[3][1] != "0.998×" {
		t.Errorf("summary table rows = %q", sum.Rows)
	}
}

func TestMarkdownTable(t *testing.T) {
	tab := &Table{Title: "T", Header: []string{"a", "b"}, Notes: []string{"n"}}
	tab.row("x|y", "2")
	want := "**T**\n\n| a | b |\n| --- | --- |\n| x\\|y | 2 |\n\nn\n"
	if got := markdownTable(tab); got != want {
		t.Errorf("markdownTable =\n%s\nwant\n%s", got, want)
	}
}

func TestNotesBody(t *testing.T) {
	if got := notesBody("<!-- for editors -->\n\nText.\n"); got != "Text." {
		t.Errorf("notesBody = %q", got)
	}
	if got := notesBody("Just text.\n"); got != "Just text." {
		t.Errorf("notesBody = %q", got)
	}
	if strings.Contains(notesBody(notes), "<!--") || notesBody(notes) == "" {
		t.Errorf("bench/notes.md renders as %q", notesBody(notes))
	}
}

func TestProxyCase(t *testing.T) {
	for _, tt := range []struct {
		c        proxyCase
		id, path string
	}{
		{proxyCase{keepAlive, 8, 0}, "c8", "/"},
		{proxyCase{keepAlive, 64, 64 << 10}, "64KiB.c64", "/bytes/65536"},
		{proxyCase{keepAlive, 1, 1000}, "1000B.c1", "/bytes/1000"},
	} {
		spec := tt.c.spec()
		if got := tt.c.id(); got != tt.id {
			t.Errorf("%+v: id %q, want %q", tt.c, got, tt.id)
		}
		if spec.target() != tt.path || spec.clients != tt.c.clients || spec.conn != keepAlive {
			t.Errorf("%+v: spec %+v, want GET %s", tt.c, spec, tt.path)
		}
		if got := string(request(spec)); !strings.HasPrefix(got, "GET "+tt.path+" HTTP/1.1\r\n") || strings.Contains(got, "close") {
			t.Errorf("%+v: request %q", tt.c, got)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int]string{6: "6 B", 65536: "64 KiB", 1 << 20: "1 MiB", 1500: "1500 B"} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestProxyCases(t *testing.T) {
	o := options{conns: []string{newConn, keepAlive}, clients: 8, proxyClients: []int{64, 1, 8}, proxyBody: 1000}
	want := []proxyCase{
		{keepAlive, 1, 0}, {keepAlive, 8, 0}, {keepAlive, 64, 0},
		{keepAlive, 1, 1000}, {keepAlive, 8, 1000}, {keepAlive, 64, 1000},
		{newConn, 8, 0},
	}
	if diff := cmp.Diff(want, o.proxyCases(), cmp.AllowUnexported(proxyCase{})); diff != "" {
		t.Errorf("proxyCases (-want +got):\n%s", diff)
	}
	o = options{conns: []string{newConn}, clients: 4, proxyClients: []int{64}, proxyBody: 1000}
	if diff := cmp.Diff([]proxyCase{{newConn, 4, 0}}, o.proxyCases(), cmp.AllowUnexported(proxyCase{})); diff != "" {
		t.Errorf("proxyCases, -conn newconn (-want +got):\n%s", diff)
	}
	spec := proxyCase{newConn, 8, 0}.spec()
	if got := string(request(spec)); !strings.Contains(got, "Connection: close\r\n") {
		t.Errorf("a new connection per request asks %q", got)
	}
}
