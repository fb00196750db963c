package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// runThroughput is scenario 1: req/s and latency of every target, with
// kept-alive connections and with a new connection per request; then proxy
// mode against haproxy, over more rounds, in every load.
func (l *lab) runThroughput(ctx context.Context) *Scenario {
	sc := &Scenario{Name: scenarioThroughput, Title: "1. Throughput"}
	targets := l.opts.wanted(allTargets)
	sc.Notes = []string{
		fmt.Sprintf("The same hello app (contrib/workers/hello) behind each target; load: %s, %d connections, %v per run, %d round(s) rotating the order, medians. "+
			"Latency runs from writing a request to reading its response. zsm: `zsm serve` bound to its own socket, one worker (proxy: one backend); "+
			"haproxy: mode tcp, nbthread 1, copying through its buffers (its default); haproxy-splice: the same with option splice-request and splice-response, splicing as zsm's proxy does; "+
			"systemd-socket-proxyd: started by systemd-socket-activate; "+
			"nginx: an http reverse proxy with keepalive upstream connections (proxy_http_version 1.1, keepalive 64), one process. "+
			"direct-4: four hello processes sharing the port (SO_REUSEPORT); handoff-4 and listen-4: zsm with a pool of four; their \"× direct\" is against direct-4.",
			l.loadName(), l.opts.clients, l.loadDuration(l.opts.duration), l.opts.rounds),
	}
	if len(l.opts.wanted(proxyGroup)) == len(proxyGroup) {
		sc.Notes = append(sc.Notes, fmt.Sprintf("Proxy mode's target against haproxy is checked in the last table, over %d round(s).", l.opts.proxyRounds))
	}
	if l.opts.sessions {
		sc.Notes = append(sc.Notes, "Each server runs in a session of its own, as systemd starts each service.")
	} else {
		sc.Notes = append(sc.Notes, "Every server runs in the bench's session (-sessions=false): unlike services under systemd, they share one scheduling group.")
	}
	if !l.opts.peers {
		sc.Notes = append(sc.Notes, "Peers skipped (-peers=false): the targets against haproxy and systemd-socket-proxyd are not measured.")
	}
	for _, conn := range l.opts.conns {
		if ctx.Err() != nil {
			break
		}
		l.throughputConn(ctx, sc, conn, targets)
	}
	if ctx.Err() == nil {
		l.proxyVsHAProxy(ctx, sc)
	}
	return sc
}

// throughputConn measures every target with one kind of connection.
func (l *lab) throughputConn(ctx context.Context, sc *Scenario, conn string, targets []string) {
	servers, up := l.startTargets(ctx, sc, targets, func(t string) string { return id(scenarioThroughput, conn, t) },
		func(s *server) { l.warm(ctx, s, conn) })
	defer l.stopTargets(sc, servers)
	rs := l.rounds(ctx, sc, servers, up, loadSpec{conn: conn, clients: l.opts.clients}, conn, l.opts.rounds)
	l.throughputTable(sc, conn, targets, byTarget(rs))
}

// proxyGroup is what proxyVsHAProxy compares (haproxy-splice is in the
// tables above).
var proxyGroup = []string{targetProxy, targetHAProxy}

// A proxyCase is one load of proxyVsHAProxy: the kind of connection, the
// connections, and the size of the responses (0: hello's own, 6 bytes).
type proxyCase struct {
	conn          string
	clients, body int
}

// spec is c's load.
func (c proxyCase) spec() loadSpec {
	spec := loadSpec{conn: c.conn, clients: c.clients}
	if c.body > 0 {
		spec.path = "/bytes/" + strconv.Itoa(c.body)
	}
	return spec
}

// id is c's part of its figures' ids, after the kind of connection: "c64",
// or "64KiB.c64".
func (c proxyCase) id() string {
	if c.body == 0 {
		return fmt.Sprintf("c%d", c.clients)
	}
	return fmt.Sprintf("%s.c%d", strings.ReplaceAll(formatBytes(c.body), " ", ""), c.clients)
}

// response names c's responses in tables.
func (c proxyCase) response() string {
	if c.body == 0 {
		return "hello (6 B)"
	}
	return formatBytes(c.body)
}

// proxyCases are the loads of proxyVsHAProxy: keep-alive at -connections
// and -proxy-connections, with hello's responses and with -proxy-body
// bytes; then a new connection per request at -connections.
func (o options) proxyCases() []proxyCase {
	var cases []proxyCase
	if slices.Contains(o.conns, keepAlive) {
		clients := append([]int{o.clients}, o.proxyClients...)
		slices.Sort(clients)
		clients = slices.Compact(clients)
		bodies := []int{0}
		if o.proxyBody > 0 {
			bodies = append(bodies, o.proxyBody)
		}
		for _, b := range bodies {
			for _, c := range clients {
				cases = append(cases, proxyCase{keepAlive, c, b})
			}
		}
	}
	if slices.Contains(o.conns, newConn) {
		cases = append(cases, proxyCase{conn: newConn, clients: o.clients})
	}
	return cases
}

// proxyVsHAProxy compares proxy mode with haproxy in every case of
// proxyCases, -proxy-rounds rounds each: the two are near parity, and the
// median of a few rounds cannot tell them apart (bench/notes.md). Without
// haproxy, proxy mode alone runs -rounds rounds.
func (l *lab) proxyVsHAProxy(ctx context.Context, sc *Scenario) {
	targets := l.opts.wanted(proxyGroup)
	if !slices.Contains(targets, targetProxy) {
		return
	}
	n := l.opts.proxyRounds
	if len(targets) < len(proxyGroup) {
		n = l.opts.rounds // nothing to compare
	}
	cases := l.opts.proxyCases()
	servers, up := l.startTargets(ctx, sc, targets, func(t string) string { return id(scenarioThroughput, "vs-haproxy", t) },
		func(*server) {})
	defer l.stopTargets(sc, servers)
	results := map[proxyCase][]map[string]loadResult{}
	for _, pc := range cases {
		if ctx.Err() != nil {
			break
		}
		for _, t := range up {
			l.warmSpec(ctx, servers[t], pc.spec())
		}
		name := "vs-haproxy-" + pc.conn + "-" + strings.ReplaceAll(pc.id(), ".", "-")
		results[pc] = l.rounds(ctx, sc, servers, up, pc.spec(), name, n)
	}

	header := append(append([]string{"connection", "response", "connections"}, targets...), "errors", "proxy ÷ haproxy, by round", "targets")
	tab := sc.table("Proxy and haproxy, by load (req/s)", header...)
	more := ""
	if n > l.opts.rounds {
		more = "; the two are near parity, so these rows run more rounds than the tables above"
	}
	tab.Notes = []string{fmt.Sprintf("Each row: every target %d round(s) in rotated order, medians%s. "+
		"By round: the lowest and highest of proxy's req/s over haproxy's in one round; the targets take the ratio of the medians. "+
		"With one connection a single request crosses wrk → proxy → hello at a time (latency); "+
		"with many the cores are busy (CPU); the larger responses (hello's GET /bytes/N) are where splicing pays.", n, more)}
	for _, pc := range cases {
		kind := "keep-alive"
		if pc.conn == newConn {
			kind = "new per request"
		}
		row := []string{kind, pc.response(), strconv.Itoa(pc.clients)}
		rounds, ok := results[pc]
		if !ok {
			tab.row(append(append(row, "not measured"), make([]string, len(header)-len(row)-1)...)...)
			continue
		}
		runs := byTarget(rounds)
		med := map[string]float64{}
		var errs errorCounts
		base := id(scenarioThroughput, pc.conn, pc.id())
		for _, t := range targets {
			med[t] = median(reqPerSec(runs[t]))
			e := sumErrors(runs[t])
			errs = errs.add(e)
			sc.add(id(base, t, "req_per_s"), med[t], "req/s")
			sc.add(id(base, t, "errors"), float64(e.Total()), "requests")
			row = append(row, formatValue(med[t], "req/s"))
		}
		row = append(row, errs.String(), spread(pairedRatios(rounds, targetProxy, targetHAProxy)))
		cell := l.checkTargets(sc, id(base, targetProxy), targetProxy, proxyVsHAProxyMin, med,
			func(peer string) bool { return slices.Contains(targets, peer) })
		tab.row(append(row, cell)...)
	}
}

// rounds runs each of up once per round, in rotated order, with the load
// spec (addr is each server's); name labels the runs. A run that fails is
// noted in sc and missing from its round.
func (l *lab) rounds(ctx context.Context, sc *Scenario, servers map[string]*server, up []string, spec loadSpec, name string, n int) []map[string]loadResult {
	var rounds []map[string]loadResult
	for r := range n {
		if ctx.Err() != nil {
			break
		}
		round := map[string]loadResult{}
		rounds = append(rounds, round)
		for _, t := range rotate(up, r) {
			res, err := l.measureSpec(ctx, servers[t], spec, fmt.Sprintf("%s-%s-%s-r%d", scenarioThroughput, name, t, r+1))
			if err != nil {
				sc.fail(fmt.Errorf("%s %s round %d: %w", t, name, r+1, err))
				if ctx.Err() != nil {
					break
				}
				continue
			}
			round[t] = res
			fmt.Fprintf(l.log, "  %s %-13s round %d/%d: %8.0f req/s  p50 %-9s p99 %-9s errors %s\n", name, t, r+1, n,
				res.ReqPerSec, formatDuration(res.P50), formatDuration(res.P99), res.Errors)
		}
	}
	return rounds
}

// byTarget lists each target's runs, in round order.
func byTarget(rounds []map[string]loadResult) map[string][]loadResult {
	runs := map[string][]loadResult{}
	for _, round := range rounds {
		for t, res := range round {
			runs[t] = append(runs[t], res)
		}
	}
	return runs
}

// throughputTable reports the runs of one kind of connection.
func (l *lab) throughputTable(sc *Scenario, conn string, targets []string, runs map[string][]loadResult) {
	med := map[string]float64{}
	for t, rs := range runs {
		med[t] = median(reqPerSec(rs))
	}
	title := "keep-alive"
	if conn == newConn {
		title = "a new connection per request"
	}
	tab := sc.table("Throughput, "+title, "server", "req/s", "p50", "p99", "errors", "× direct", "targets")
	for _, t := range targets {
		rs, ok := runs[t]
		if !ok {
			tab.row(t, "not measured", "", "", "", "", "")
			continue
		}
		p50, p99 := latencies(rs)
		errs := sumErrors(rs)
		base := id(scenarioThroughput, conn, t)
		sc.add(id(base, "req_per_s"), med[t], "req/s")
		sc.add(id(base, "p50_us"), us(p50), "us")
		sc.add(id(base, "p99_us"), us(p99), "us")
		sc.add(id(base, "errors"), float64(errs.Total()), "requests")
		vsDirect := "n/a"
		if _, ok := med[directOf(t)]; ok {
			r := ratio(med[t], med[directOf(t)])
			sc.add(id(base, "vs_direct"), r, "x")
			vsDirect = formatValue(r, "x")
		}
		cell := l.checkTargets(sc, base, t, throughputTargets(conn, t), med, l.opts.wants)
		tab.row(t, formatValue(med[t], "req/s"), formatDuration(p50), formatDuration(p99), errs.String(), vsDirect, cell)
	}
}

// checkTargets checks t's throughput targets against the peers of runs
// that compares (med holds the medians) and returns the table cell; base
// is the prefix of t's figures.
func (l *lab) checkTargets(sc *Scenario, base, t string, targets []ratioTarget, med map[string]float64, compares func(peer string) bool) string {
	cell := ""
	for _, rt := range targets {
		if !compares(rt.peer) {
			continue
		}
		v := ratio(med[t], med[rt.peer]) // NaN when the peer was not measured
		if cell != "" {
			cell += "; "
		}
		cell += sc.check(id(base, "target_vs_"+rt.peer), v, "x", atLeast(rt.min, "%.2f× %s", rt.min, rt.peer))
	}
	return cell
}

// sumErrors adds up the runs' failed requests.
func sumErrors(rs []loadResult) errorCounts {
	var errs errorCounts
	for _, r := range rs {
		errs = errs.add(r.Errors)
	}
	return errs
}

// reqPerSec lists the runs' rates.
func reqPerSec(rs []loadResult) []float64 {
	xs := make([]float64, len(rs))
	for i, r := range rs {
		xs[i] = r.ReqPerSec
	}
	return xs
}

// latencies returns the medians of the runs' p50 and p99.
func latencies(rs []loadResult) (p50, p99 time.Duration) {
	var a, b []time.Duration
	for _, r := range rs {
		a, b = append(a, r.P50), append(b, r.P99)
	}
	return medianDuration(a), medianDuration(b)
}

// warm runs unmeasured load on s with the built-in loader, so that no
// target pays for first use (lazy worker start, page faults) in round 1.
func (l *lab) warm(ctx context.Context, s *server, conn string) {
	l.warmSpec(ctx, s, loadSpec{conn: conn, clients: l.opts.clients})
}

// warmSpec warms s up with the load spec (addr is s's).
func (l *lab) warmSpec(ctx context.Context, s *server, spec loadSpec) {
	if l.opts.warmup <= 0 {
		return
	}
	spec.addr, spec.duration = s.addr, l.opts.warmup
	goLoader{}.Load(ctx, spec)
}

// measure runs one measured load on s. With -perf and a zsm target, perf
// records the broker meanwhile into label.perf.data.
func (l *lab) measure(ctx context.Context, s *server, conn string, d time.Duration, label string) (loadResult, error) {
	return l.measureSpec(ctx, s, loadSpec{conn: conn, clients: l.opts.clients, duration: d}, label)
}

// measureSpec is measure with the load spec (addr is s's; duration, if
// zero, -duration).
func (l *lab) measureSpec(ctx context.Context, s *server, spec loadSpec, label string) (loadResult, error) {
	spec.addr, spec.threads = s.addr, l.opts.threads
	if spec.duration == 0 {
		spec.duration = l.opts.duration
	}
	stopPerf := l.perf(ctx, s, label, l.loadDuration(spec.duration))
	res, err := l.loader.Load(ctx, spec)
	stopPerf()
	return res, err
}

// loadName describes the load generator.
func (l *lab) loadName() string { return l.loader.Describe(l.opts.threads) }

// loadDuration is how long a load asked to run d really runs.
func (l *lab) loadDuration(d time.Duration) time.Duration { return l.loader.RunsFor(d) }

// startTargets starts each target, labelled for its profiles by label, and
// warms it up with warm; one that does not start is noted in sc and left
// out. up is the targets that started, in order. stopTargets stops them.
func (l *lab) startTargets(ctx context.Context, sc *Scenario, targets []string, label func(target string) string, warm func(*server)) (servers map[string]*server, up []string) {
	servers = map[string]*server{}
	for _, t := range targets {
		s, err := l.startTarget(ctx, t, label(t))
		if err != nil {
			sc.fail(err)
			continue
		}
		servers[t] = s
		up = append(up, t)
		warm(s)
	}
	return servers, up
}

// stopTargets stops what startTargets started.
func (l *lab) stopTargets(sc *Scenario, servers map[string]*server) {
	for _, s := range servers {
		if err := l.stopServer(s); err != nil {
			sc.fail(err)
		}
	}
}
