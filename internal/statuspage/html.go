package statuspage

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/zsm-dev/zsm/internal/status"
)

// refreshSeconds is how often the page reloads itself.
const refreshSeconds = 5

// page is what the template renders.
type page struct {
	Title   string
	Now     time.Time
	Refresh int
	Sites   []siteView
	Summary []stateCount // sites by state, when there are several
}

// stateCount is how many sites are in a state.
type stateCount struct {
	State string
	Tone  string
	N     int
}

// siteState is status.Site under a name that does not hide its Site
// field from the template.
type siteState = status.Site

// siteView is a site as the page shows it.
type siteView struct {
	siteState
	ID          string // the element id of its section
	Tone        string // colour of the state: ok, info, warn, bad, muted
	BreakerTone string
	StateNote   string // what the state means, in words
	Addresses   string // Listen, joined
	Rows        []workerView
	Ready       int
	Recent      []eventView // newest first
	Graphs      []graph     // the last 15 minutes, when there is a History
	Collecting  bool        // there is a History, with too few samples yet
	Sockets     []listenerView
	Latency     []latencyView // the histograms' 99th percentiles, when known
}

// listenerView is a listening socket as the page shows it.
type listenerView struct {
	Addr    string
	Queue   string // "–" when not known
	Backlog string
	Tone    string // warn when the queue is over half full
}

// latencyView says how long 99% of connections took, at most.
type latencyView struct {
	What string
	P99  string // "≤ 1 ms"
}

// eventView is one of a site's recent events as the page shows it.
type eventView struct {
	At      string
	Level   string
	Tone    string
	Message string
}

// pageEvents is how many of a site's recent events the page shows.
const pageEvents = 10

// workerView is a worker as the page shows it.
type workerView struct {
	status.Worker
	Tone      string
	Age       string
	StartedAt string // the start time, for the tooltip
	Memory    string
}

// timeLayout is how the page shows a time.
const timeLayout = "2006-01-02 15:04:05 MST"

// stateTone colours a site's state.
func stateTone(state string) string {
	switch state {
	case "running":
		return "ok"
	case "cold", status.StateIdle:
		return "info"
	case "starting":
		return "warn"
	case "failing", status.StateSocketFailed:
		return "bad"
	default: // stopping, socket-inactive, unknown
		return "muted"
	}
}

// stateNote says what a site's state means.
func stateNote(state string) string {
	switch state {
	case "cold":
		return "no worker; the next connection starts one"
	case "starting":
		return "workers starting"
	case "failing":
		return "breaker open: workers cannot start"
	case "stopping":
		return "shutting down"
	case status.StateIdle:
		return "no broker runs; systemd listens, and the next connection starts one"
	case status.StateSocketFailed:
		return "systemd could not listen on the site's sockets: nothing answers"
	case status.StateSocketInactive:
		return "the socket unit is enabled but not started: nothing listens"
	}
	return ""
}

// breakerTone colours the circuit breaker.
func breakerTone(b string) string {
	switch b {
	case "closed":
		return "ok"
	case "half-open":
		return "warn"
	case "open":
		return "bad"
	}
	return "muted"
}

// workerTone colours a worker's state.
func workerTone(state string) string {
	switch state {
	case "ready":
		return "ok"
	case "starting":
		return "warn"
	}
	return "muted" // draining, unknown
}

func levelTone(level string) string {
	switch level {
	case "ERROR":
		return "bad"
	case "WARN":
		return "warn"
	}
	return "muted"
}

// newPage parses the page's template.
func newPage() *template.Template {
	return template.Must(template.New("page").Funcs(template.FuncMap{
		"count": groupDigits,
		"time":  func(t time.Time) string { return t.Format(timeLayout) },
		"iso":   func(t time.Time) string { return t.Format(time.RFC3339) },
	}).Parse(pageTemplate))
}

// writeHTML renders sites as the page, generated at now.
func (h *handler) writeHTML(w io.Writer, sites []status.Site, now time.Time) error {
	p := page{Now: now, Refresh: refreshSeconds}
	byState := map[string]int{}
	var order []string
	for i, s := range sites {
		v := siteView{
			siteState:   s,
			ID:          "site-" + strconv.Itoa(i+1),
			Tone:        stateTone(s.State),
			BreakerTone: breakerTone(s.Breaker),
			StateNote:   stateNote(s.State),
			Addresses:   strings.Join(s.Listen, ", "),
		}
		for i := len(s.Events) - 1; i >= 0 && len(v.Recent) < pageEvents; i-- {
			e := s.Events[i]
			v.Recent = append(v.Recent, eventView{
				At:    time.UnixMicro(int64(e.Time)).In(now.Location()).Format(timeLayout),
				Level: e.Level, Tone: levelTone(e.Level), Message: e.Message,
			})
		}
		v.Graphs = graphs(h.history.points(s.Site), now)
		v.Collecting = h.history != nil && v.Graphs == nil
		v.Sockets, v.Latency = sockets(s), latency(s)
		for _, w := range s.Workers {
			if w.State == "ready" {
				v.Ready++
			}
			wv := workerView{Worker: w, Tone: workerTone(w.State), Age: "–", Memory: "–"}
			if w.Started != 0 {
				started := time.UnixMicro(int64(w.Started)).In(now.Location())
				wv.Age = age(now.Sub(started))
				wv.StartedAt = "started " + started.Format(timeLayout)
			}
			if w.RSS != 0 {
				wv.Memory = iecBytes(w.RSS)
			}
			v.Rows = append(v.Rows, wv)
		}
		p.Sites = append(p.Sites, v)
		if byState[s.State] == 0 {
			order = append(order, s.State)
		}
		byState[s.State]++
	}
	switch len(sites) {
	case 0:
		p.Title = "zsm status: no site"
	case 1:
		p.Title = fmt.Sprintf("zsm status: %s (%s)", sites[0].Site, sites[0].State)
	default:
		p.Title = fmt.Sprintf("zsm status: %d sites", len(sites))
		for _, st := range []string{status.StateSocketFailed, "failing", "starting", "stopping", "running", "cold",
			status.StateIdle, status.StateSocketInactive} {
			if byState[st] > 0 {
				p.Summary = append(p.Summary, stateCount{State: st, Tone: stateTone(st), N: byState[st]})
				delete(byState, st)
			}
		}
		for _, st := range order { // unknown states, as met
			if byState[st] > 0 {
				p.Summary = append(p.Summary, stateCount{State: st, Tone: stateTone(st), N: byState[st]})
			}
		}
	}
	return h.page.Execute(w, p)
}

// sockets lists s's listening sockets and their accept queues.
func sockets(s status.Site) []listenerView {
	var out []listenerView
	for _, l := range s.Listeners {
		v := listenerView{Addr: l.Addr, Queue: "–", Backlog: "unknown", Tone: "muted"}
		if l.Backlog > 0 {
			v.Queue, v.Backlog, v.Tone = groupDigits(l.Queue), groupDigits(l.Backlog), "ok"
			if l.Queue > l.Backlog/2 {
				v.Tone = "warn"
			}
		}
		out = append(out, v)
	}
	return out
}

// latency says how long 99% of s's connections waited and took to reach
// their worker.
func latency(s status.Site) []latencyView {
	var out []latencyView
	for _, p := range s.P99s() {
		v := latencyView{What: p.What, P99: boundString(p.Bound)}
		if p.Above {
			v.P99 = "> " + strings.TrimPrefix(v.P99, "≤ ")
		}
		out = append(out, v)
	}
	return out
}

// boundString says a histogram's bound, in seconds: "≤ 250 µs", "≤ 2.5
// ms", "≤ 1 s".
func boundString(b float64) string {
	d := time.Duration(math.Round(b * float64(time.Second)))
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("≤ %d µs", d.Microseconds())
	case d < time.Second:
		return "≤ " + strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'g', -1, 64) + " ms"
	}
	return "≤ " + strconv.FormatFloat(b, 'g', -1, 64) + " s"
}

// age says how long d is, in at most two units: 42s, 4m 12s, 3h 05m, 2d 3h.
func age(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm %02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh %02dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd %dh", s/86400, s%86400/3600)
}

// iecBytes says n in binary units: 512 B, 4.0 KiB, 48.2 MiB, 1.5 GiB.
func iecBytes(n uint64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, unit := float64(n)/1024, "KiB"
	for _, u := range []string{"MiB", "GiB", "TiB"} {
		if v < 1024 {
			break
		}
		v, unit = v/1024, u
	}
	return fmt.Sprintf("%.1f %s", v, unit)
}

// groupDigits writes n with thousands separated by commas: 1,234,567.
func groupDigits(n any) string {
	var s string
	switch v := n.(type) {
	case uint64:
		s = strconv.FormatUint(v, 10)
	case uint32:
		s = strconv.FormatUint(uint64(v), 10)
	case int:
		s = strconv.Itoa(v)
	default:
		s = fmt.Sprint(v)
	}
	if len(s) <= 3 {
		return s
	}
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
