package main

import (
	"context"
	"fmt"
	"time"
)

// runThroughput is scenario 1: req/s and latency of every target, with
// kept-alive connections and with a new connection per request.
func (l *lab) runThroughput(ctx context.Context) *Scenario {
	sc := &Scenario{Name: scenarioThroughput, Title: "1. Throughput"}
	var targets []string
	for _, t := range allTargets {
		if l.opts.wants(t) {
			targets = append(targets, t)
		}
	}
	sc.Notes = []string{
		fmt.Sprintf("The same hello app (contrib/workers/hello) behind each target; load: %s, %d connections, %v per run, %d round(s) rotating the order, medians. "+
			"Latency runs from writing a request to reading its response. zsm: `zsm serve` bound to its own socket, one worker (proxy: one backend); "+
			"haproxy: mode tcp, nbthread 1, copying through its buffers (its default); haproxy-splice: the same with option splice-request and splice-response, splicing as zsm's proxy does; "+
			"systemd-socket-proxyd: started by systemd-socket-activate.",
			l.loadName(), l.opts.clients, l.loadDuration(l.opts.duration), l.opts.rounds),
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
	return sc
}

// throughputConn measures every target with one kind of connection.
func (l *lab) throughputConn(ctx context.Context, sc *Scenario, conn string, targets []string) {
	servers, up := l.startTargets(ctx, sc, targets, func(t string) string { return id(scenarioThroughput, conn, t) },
		func(s *server) { l.warm(ctx, s, conn) })
	defer l.stopTargets(sc, servers)
	runs := map[string][]loadResult{}
	for r := range l.opts.rounds {
		for _, t := range rotate(up, r) {
			res, err := l.measure(ctx, servers[t], conn, l.opts.duration, fmt.Sprintf("%s-%s-%s-r%d", scenarioThroughput, conn, t, r+1))
			if err != nil {
				sc.fail(fmt.Errorf("%s %s round %d: %w", t, conn, r+1, err))
				if ctx.Err() != nil {
					return
				}
				continue
			}
			runs[t] = append(runs[t], res)
			fmt.Fprintf(l.log, "  %s %-13s round %d/%d: %8.0f req/s  p50 %-9s p99 %-9s errors %s\n", conn, t, r+1, l.opts.rounds,
				res.ReqPerSec, formatDuration(res.P50), formatDuration(res.P99), res.Errors)
		}
	}

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
		var errs errorCounts
		for _, r := range rs {
			errs = errs.add(r.Errors)
		}
		base := id(scenarioThroughput, conn, t)
		sc.add(id(base, "req_per_s"), med[t], "req/s")
		sc.add(id(base, "p50_us"), us(p50), "us")
		sc.add(id(base, "p99_us"), us(p99), "us")
		sc.add(id(base, "errors"), float64(errs.Total()), "requests")
		vsDirect := "n/a"
		if _, ok := med[targetDirect]; ok {
			r := ratio(med[t], med[targetDirect])
			sc.add(id(base, "vs_direct"), r, "x")
			vsDirect = formatValue(r, "x")
		}
		cell := ""
		for _, rt := range throughputTargets(conn, t) {
			if !l.opts.wants(rt.peer) {
				continue
			}
			v := ratio(med[t], med[rt.peer]) // NaN when the peer was not measured
			if cell != "" {
				cell += "; "
			}
			cell += sc.check(id(base, "target_vs_"+rt.peer), v, "x", atLeast(rt.min, "%.2f× %s", rt.min, rt.peer))
		}
		tab.row(t, formatValue(med[t], "req/s"), formatDuration(p50), formatDuration(p99), errs.String(), vsDirect, cell)
	}
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
	if l.opts.warmup <= 0 {
		return
	}
	goLoader{}.Load(ctx, loadSpec{addr: s.addr, conn: conn, clients: l.opts.clients, duration: l.opts.warmup})
}

// measure runs one measured load on s. With -perf and a zsm target, perf
// records the broker meanwhile into label.perf.data.
func (l *lab) measure(ctx context.Context, s *server, conn string, d time.Duration, label string) (loadResult, error) {
	spec := loadSpec{addr: s.addr, conn: conn, clients: l.opts.clients, threads: l.opts.threads, duration: d}
	stopPerf := l.perf(ctx, s, label, l.loadDuration(d))
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
