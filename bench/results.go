package main

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Results is everything one run measured: what the JSON file holds and
// BENCHMARKS.md shows.
type Results struct {
	Machine   Machine     `json:"machine"`
	Settings  Settings    `json:"settings"`
	Scenarios []*Scenario `json:"scenarios"`
	Summary   Summary     `json:"summary"`
}

// Settings are the knobs the run used.
type Settings struct {
	Args        []string `json:"args"`
	Loader      string   `json:"loader"`
	Rounds      int      `json:"rounds"`
	ProxyRounds int      `json:"proxy_rounds"`
	Duration    string   `json:"duration"`
	Connections int      `json:"connections"`
	Threads     int      `json:"threads"`
	Quick       bool     `json:"quick"`
	Peers       bool     `json:"peers"`
	Sessions    bool     `json:"sessions"` // each server in a session of its own
}

func settingsOf(o options) Settings {
	return Settings{
		Loader: o.loader, Rounds: o.rounds, ProxyRounds: o.proxyRounds, Duration: o.duration.String(), Connections: o.clients,
		Threads: o.threads, Quick: o.quick, Peers: o.peers, Sessions: o.sessions,
	}
}

// Summary counts the targets.
type Summary struct {
	Targets     int `json:"targets"`
	Met         int `json:"met"`
	Missed      int `json:"missed"`
	NotMeasured int `json:"not_measured"`
}

// A Scenario is one of the four, measured or skipped.
type Scenario struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	// Skipped says why the scenario (or all of it that needs something
	// missing here) did not run; Error what failed.
	Skipped string    `json:"skipped,omitempty"`
	Error   string    `json:"error,omitempty"`
	Notes   []string  `json:"notes,omitempty"`
	Figures []*Figure `json:"figures"`
	Tables  []*Table  `json:"tables,omitempty"` // kept so that -render can redo the report
}

// A Figure is one measured number, with its target if it has one.
type Figure struct {
	ID    string   `json:"id"` // e.g. "throughput.newconn.handoff.req_per_s"
	Value *float64 `json:"value"`
	Unit  string   `json:"unit"`
	// Target and Pass are set for the figures the issue sets a target
	// for; Pass is null when the figure could not be measured.
	Target *Target `json:"target,omitempty"`
	Pass   *bool   `json:"pass,omitempty"`
}

// A Table is how a scenario shows its figures, on stdout and in markdown.
type Table struct {
	Title  string     `json:"title,omitempty"`
	Header []string   `json:"header"`
	Rows   [][]string `json:"rows"`
	Notes  []string   `json:"notes,omitempty"` // below the table
}

// add records a figure without a target. NaN means not measured.
func (sc *Scenario) add(id string, v float64, unit string) *Figure {
	f := &Figure{ID: id, Unit: unit}
	if !math.IsNaN(v) && !math.IsInf(v, 0) {
		f.Value = &v
	}
	sc.Figures = append(sc.Figures, f)
	return f
}

// check records a figure with a target and returns the table cell for
// it: "✓ ≥ 0.90× direct (0.97)", "✗ ..." or "? ... (not measured)".
func (sc *Scenario) check(id string, v float64, unit string, t Target) string {
	f := sc.add(id, v, unit)
	f.Target = &t
	if f.Value == nil {
		return "? " + t.Text + " (not measured)"
	}
	pass := t.Met(v)
	f.Pass = &pass
	mark := "✓"
	if !pass {
		mark = "✗"
	}
	return fmt.Sprintf("%s %s (%s)", mark, t.Text, t.format(v, unit))
}

// format shows v in unit as formatValue does, with the digits more that a
// ratio needs not to read as the bound itself: 0.998× misses 1.00×.
func (t Target) format(v float64, unit string) string {
	s := formatValue(v, unit)
	if unit != "x" || v == t.Value {
		return s
	}
	bound := formatValue(t.Value, unit)
	for digits := 3; s == bound && digits <= 6; digits++ {
		s, bound = fmt.Sprintf("%.*f×", digits, v), fmt.Sprintf("%.*f×", digits, t.Value)
	}
	return s
}

// fail marks the scenario failed with err, keeping what it measured.
func (sc *Scenario) fail(err error) {
	if sc.Error != "" {
		sc.Error += "\n"
	}
	sc.Error += err.Error()
}

// table adds a table to the scenario.
func (sc *Scenario) table(title string, header ...string) *Table {
	t := &Table{Title: title, Header: header}
	sc.Tables = append(sc.Tables, t)
	return t
}

// row adds a row.
func (t *Table) row(cells ...string) { t.Rows = append(t.Rows, cells) }

// finish counts the targets.
func (r *Results) finish() {
	r.Summary = Summary{}
	for _, sc := range r.Scenarios {
		for _, f := range sc.Figures {
			if f.Target == nil {
				continue
			}
			r.Summary.Targets++
			switch {
			case f.Pass == nil:
				r.Summary.NotMeasured++
			case *f.Pass:
				r.Summary.Met++
			default:
				r.Summary.Missed++
			}
		}
	}
}

// formatBytes shows a size: "6 B", "64 KiB", "1 MiB".
func formatBytes(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// formatValue shows v in unit for tables.
func formatValue(v float64, unit string) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	switch unit {
	case "x":
		return fmt.Sprintf("%.2f×", v)
	case "req/s":
		return fmt.Sprintf("%.0f", v)
	case "ms":
		return fmt.Sprintf("%.2f ms", v)
	case "us":
		return fmt.Sprintf("%.0f µs", v)
	case "MiB":
		return fmt.Sprintf("%.1f MiB", v)
	case "s":
		return fmt.Sprintf("%.3f s", v)
	case "requests", "conns", "":
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%g %s", v, unit)
}

// formatDuration shows a latency with three significant digits.
func formatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "n/a"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

// ms and us convert durations to figures.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// mib converts bytes.
func mib(b int64) float64 { return float64(b) / (1 << 20) }

// id joins figure id parts with dots.
func id(parts ...string) string { return strings.Join(parts, ".") }
