package statuspage

import (
	"bufio"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zsm-dev/zsm/internal/status"
)

// workerStates are the worker states zsm_workers always reports, so that
// each site's series exist even at 0.
var workerStates = []string{"starting", "ready", "draining"}

// sample is one line of a family: label pairs (after site) and a value.
type sample struct {
	suffix string   // after the family's name: a histogram's _bucket, _sum, _count
	labels []string // name, value, name, value...
	value  string
}

// family is one metric family: its name, type, help, and the samples of one
// site.
type family struct {
	name, typ, help string
	samples         func(s status.Site) []sample
}

func one(v uint64) []sample { return []sample{{value: strconv.FormatUint(v, 10)}} }

// families lists the metrics in the order they are written.
var families = []family{
	{"zsm_connections_accepted_total", "counter", "Connections the broker accepted.",
		func(s status.Site) []sample { return one(s.Accepted) }},
	{"zsm_connections_served_total", "counter", "Connections workers finished.",
		func(s status.Site) []sample { return one(s.Served) }},
	{"zsm_connections_shed_total", "counter", "Connections refused: queue full, no worker ready, or breaker open.",
		func(s status.Site) []sample { return one(s.Shed) }},
	{"zsm_connections_failed_total", "counter", "Connections lost because their worker died holding them.",
		func(s status.Site) []sample { return one(s.Failed) }},
	{"zsm_worker_restarts_total", "counter", "Workers that exited unexpectedly.",
		func(s status.Site) []sample { return one(s.Restarts) }},
	{"zsm_log_dropped_total", "counter", "Broker events a log, journal or bus sink dropped rather than stall serving.",
		func(s status.Site) []sample { return one(s.LogDropped) }},
	{"zsm_connections_active", "gauge", "Connections held by workers now.",
		func(s status.Site) []sample { return one(uint64(s.Active)) }},
	{"zsm_connections_queued", "gauge", "Connections waiting in the broker for a worker.",
		func(s status.Site) []sample { return one(uint64(s.Queued)) }},
	{"zsm_workers", "gauge", "Workers by state (starting, ready, draining).", workersByState},
	{"zsm_generation", "gauge", "The site's generation, bumped by every reload.",
		func(s status.Site) []sample { return one(uint64(s.Generation)) }},
	{"zsm_up", "gauge", "1 if the site is running, 0 otherwise (cold, starting, failing, stopping, idle, socket-failed, ...); state is the site's state.",
		func(s status.Site) []sample {
			v := "0"
			if s.State == "running" {
				v = "1"
			}
			return []sample{{labels: []string{"state", s.State}, value: v}}
		}},
	{"zsm_worker_resident_memory_bytes", "gauge", "Resident memory of each worker, in bytes.",
		func(s status.Site) []sample {
			var out []sample
			for _, w := range s.Workers {
				if w.RSS == 0 { // not measured
					continue
				}
				out = append(out, sample{
					labels: []string{"pid", strconv.FormatUint(uint64(w.Pid), 10)},
					value:  strconv.FormatUint(w.RSS, 10),
				})
			}
			return out
		}},
	{"zsm_workers_busy", "gauge", "Workers with a connection in a request now (without per-request reports: holding a connection).",
		func(s status.Site) []sample {
			n := uint64(0)
			for _, w := range s.Workers {
				if w.Busy > 0 {
					n++
				}
			}
			return one(n)
		}},
	{"zsm_worker_connections_held", "gauge", "Connections each worker holds now (handoff, proxy).",
		perWorker(func(w status.Worker) uint32 { return w.Held })},
	{"zsm_worker_connections_busy", "gauge", "Of the connections each worker holds, those in a request now (as the worker reports it, else all).",
		perWorker(func(w status.Worker) uint32 { return w.Busy })},
	{"zsm_listen_queue", "gauge", "Connections waiting in the kernel's accept queue of each listening socket.",
		perListener(func(l status.Listener) uint32 { return l.Queue })},
	{"zsm_listen_backlog", "gauge", "The most connections the kernel's accept queue of each listening socket holds.",
		perListener(func(l status.Listener) uint32 { return l.Backlog })},
	{"zsm_queue_wait_seconds", "histogram", "How long connections waited in the broker, from accept to being given to a worker (handoff, proxy).",
		func(s status.Site) []sample { return histogramSamples(s.QueueWait) }},
	{"zsm_handoff_latency_seconds", "histogram", "From accept until the connection reached its worker: fd sent on its channel (handoff), backend connection up (proxy).",
		func(s status.Site) []sample { return histogramSamples(s.HandoffLatency) }},
}

// perWorker is a family with one sample per worker, labelled with its pid.
func perWorker(v func(status.Worker) uint32) func(status.Site) []sample {
	return func(s status.Site) []sample {
		var out []sample
		for _, w := range s.Workers {
			out = append(out, sample{
				labels: []string{"pid", strconv.FormatUint(uint64(w.Pid), 10)},
				value:  strconv.FormatUint(uint64(v(w)), 10),
			})
		}
		return out
	}
}

// perListener is a family with one sample per listening socket whose
// queue is known, labelled with its address.
func perListener(v func(status.Listener) uint32) func(status.Site) []sample {
	return func(s status.Site) []sample {
		var out []sample
		for _, l := range s.Listeners {
			if l.Backlog == 0 { // not known
				continue
			}
			out = append(out, sample{labels: []string{"listen", l.Addr}, value: strconv.FormatUint(uint64(v(l)), 10)})
		}
		return out
	}
}

// histogramSamples writes h as Prometheus does: cumulative buckets up to
// le="+Inf", then the sum and the count; nothing when h has no buckets.
func histogramSamples(h status.Histogram) []sample {
	if len(h.Bounds) == 0 || len(h.Counts) != len(h.Bounds)+1 {
		return nil
	}
	out := make([]sample, 0, len(h.Counts)+2)
	var n uint64
	for i, c := range h.Counts {
		n += c
		le := "+Inf"
		if i < len(h.Bounds) {
			le = strconv.FormatFloat(h.Bounds[i], 'g', -1, 64)
		}
		out = append(out, sample{suffix: "_bucket", labels: []string{"le", le}, value: strconv.FormatUint(n, 10)})
	}
	return append(out,
		sample{suffix: "_sum", value: strconv.FormatFloat(h.Sum, 'g', -1, 64)},
		sample{suffix: "_count", value: strconv.FormatUint(n, 10)})
}

// workersByState counts s's workers by state: the known states always, in
// order, then any other state seen, sorted.
func workersByState(s status.Site) []sample {
	n := map[string]uint64{}
	for _, w := range s.Workers {
		n[w.State]++
	}
	states := slices.Clone(workerStates)
	var other []string
	for st := range n {
		if !slices.Contains(workerStates, st) {
			other = append(other, st)
		}
	}
	slices.Sort(other)
	states = append(states, other...)
	out := make([]sample, len(states))
	for i, st := range states {
		out[i] = sample{labels: []string{"state", st}, value: strconv.FormatUint(n[st], 10)}
	}
	return out
}

// writeMetrics writes sites in the Prometheus text format 0.0.4: per
// family its HELP and TYPE lines, then its samples for every site.
func writeMetrics(w io.Writer, sites []status.Site, _ time.Time) error {
	bw := bufio.NewWriter(w)
	for _, f := range families {
		bw.WriteString("# HELP " + f.name + " " + escapeHelp(f.help) + "\n")
		bw.WriteString("# TYPE " + f.name + " " + f.typ + "\n")
		for _, s := range sites {
			for _, smp := range f.samples(s) {
				bw.WriteString(f.name + smp.suffix + `{site="` + escapeLabel(s.Site) + `"`)
				for i := 0; i+1 < len(smp.labels); i += 2 {
					bw.WriteString("," + smp.labels[i] + `="` + escapeLabel(smp.labels[i+1]) + `"`)
				}
				bw.WriteString("} " + smp.value + "\n")
			}
		}
	}
	return bw.Flush()
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
)

// escapeHelp escapes a HELP text: backslash and newline.
func escapeHelp(s string) string { return helpEscaper.Replace(s) }

// escapeLabel escapes a label value: backslash, double quote and newline.
// Invalid UTF-8, which the format does not allow, becomes U+FFFD.
func escapeLabel(s string) string {
	return labelEscaper.Replace(strings.ToValidUTF8(s, "\uFFFD"))
}
