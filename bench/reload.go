package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// runReload is scenario 3: failures and throughput across evenly spaced
// reloads in each mode, against a steady run of the same length.
func (l *lab) runReload(ctx context.Context) *Scenario {
	sc := &Scenario{Name: scenarioReload, Title: "3. Reload under load"}
	d := l.loadDuration(l.opts.reloadD)
	sc.Notes = []string{fmt.Sprintf(
		"Per mode, %d round(s) of two runs of %v each, in rotated order: a steady one, and one with %d reloads "+
			"(`zsm reload --wait`, which returns once the new workers serve and the old ones are told to finish) evenly spaced. "+
			"Load: %s, %d connections, a new connection per request, so that every error is a real failure: "+
			"with kept-alive connections wrk counts a server closing an idle connection as a read error. "+
			"Failures are socket errors (connect, read, write, timeout) plus responses other than 2xx/3xx (wrk) or 200 (Go loader). "+
			"Throughput and p99 of the reload runs are compared with the steady runs' medians.",
		l.opts.rounds, d, l.opts.reloads, l.loadName(), l.opts.clients)}
	tab := sc.table("Reload under load", "mode", "steady req/s", "reload req/s", "requests", "failed",
		"reload time p50", "throughput (target)", "p99 (target)", "failures (target)")
	for _, mode := range []string{targetHandoff, targetListen, targetProxy} {
		if !l.opts.wants(mode) || ctx.Err() != nil {
			continue
		}
		if err := l.reloadMode(ctx, sc, tab, mode); err != nil {
			sc.fail(fmt.Errorf("%s: %w", mode, err))
		}
	}
	return sc
}

// reloadRun is one run with reloads.
type reloadRun struct {
	load    loadResult
	reloads []time.Duration // how long each `zsm reload --wait` took
	failed  []string        // reloads that failed, and why
}

// reloadMode measures one mode.
func (l *lab) reloadMode(ctx context.Context, sc *Scenario, tab *Table, mode string) error {
	s, err := l.startTarget(ctx, mode, id(scenarioReload, mode))
	if err != nil {
		return err
	}
	defer func() {
		if err := l.stopServer(s); err != nil {
			sc.fail(err)
		}
	}()
	l.warm(ctx, s, newConn)
	var steady []loadResult
	var reloaded []reloadRun
	for r := range l.opts.rounds {
		for _, withReloads := range rotate([]bool{false, true}, r) {
			label := fmt.Sprintf("%s-%s-r%d", scenarioReload, mode, r+1)
			if !withReloads {
				res, err := l.measure(ctx, s, newConn, l.opts.reloadD, label+"-steady")
				if err != nil {
					return err
				}
				steady = append(steady, res)
				fmt.Fprintf(l.log, "  %-7s steady round %d/%d: %8.0f req/s  p99 %-9s errors %s\n", mode, r+1, l.opts.rounds,
					res.ReqPerSec, formatDuration(res.P99), res.Errors)
				continue
			}
			rr, err := l.loadWithReloads(ctx, s, label+"-reload")
			if err != nil {
				return err
			}
			reloaded = append(reloaded, rr)
			fmt.Fprintf(l.log, "  %-7s reload round %d/%d: %8.0f req/s  p99 %-9s errors %s, %d reloads (%d failed)\n", mode, r+1, l.opts.rounds,
				rr.load.ReqPerSec, formatDuration(rr.load.P99), rr.load.Errors, len(rr.reloads), len(rr.failed))
		}
	}

	var loads []loadResult
	var errs errorCounts
	var requests int64
	var times []time.Duration
	var failedReloads []string
	for _, rr := range reloaded {
		loads = append(loads, rr.load)
		errs = errs.add(rr.load.Errors)
		requests += rr.load.Requests + rr.load.Errors.Total() - rr.load.Errors.Status
		times = append(times, rr.reloads...)
		failedReloads = append(failedReloads, rr.failed...)
	}
	steadyRate, reloadRate := median(reqPerSec(steady)), median(reqPerSec(loads))
	_, steadyP99 := latencies(steady)
	_, reloadP99 := latencies(loads)
	base := id(scenarioReload, mode)
	sc.add(id(base, "steady_req_per_s"), steadyRate, "req/s")
	sc.add(id(base, "reload_req_per_s"), reloadRate, "req/s")
	sc.add(id(base, "steady_p99_us"), us(steadyP99), "us")
	sc.add(id(base, "reload_p99_us"), us(reloadP99), "us")
	sc.add(id(base, "requests"), float64(requests), "requests")
	sc.add(id(base, "reloads"), float64(len(times)), "")
	sc.add(id(base, "reload_time_p50_ms"), ms(medianDuration(times)), "ms")
	thr := sc.check(id(base, "throughput_vs_steady"), ratio(reloadRate, steadyRate), "x", atLeast(reloadThroughputMin, "%.2f× steady", reloadThroughputMin))
	p99 := sc.check(id(base, "p99_vs_steady"), ratio(float64(reloadP99), float64(steadyP99)), "x", atMost(reloadP99Max, "%.1f× steady", reloadP99Max))
	fails := sc.check(id(base, "failed_requests"), float64(errs.Total()), "requests", Target{Op: "<=", Value: 0, Text: "0 failed"})
	tab.row(mode, formatValue(steadyRate, "req/s"), formatValue(reloadRate, "req/s"), fmt.Sprint(requests), errs.String(),
		formatDuration(medianDuration(times)), thr, p99, fails)
	if len(failedReloads) > 0 {
		tab.Notes = append(tab.Notes, fmt.Sprintf("%s: %d of %d reloads failed: %s", mode, len(failedReloads),
			len(failedReloads)+len(times), strings.Join(failedReloads, "; ")))
		sc.add(id(base, "failed_reloads"), float64(len(failedReloads)), "")
	}
	return nil
}

// loadWithReloads runs load on s and meanwhile reloads it -reloads times,
// evenly spaced over the run.
func (l *lab) loadWithReloads(ctx context.Context, s *server, label string) (reloadRun, error) {
	d := l.loadDuration(l.opts.reloadD)
	var rr reloadRun
	var wg sync.WaitGroup
	start := time.Now()
	wg.Go(func() {
		for i := range l.opts.reloads {
			at := start.Add(d * time.Duration(2*i+1) / time.Duration(2*l.opts.reloads))
			t := time.NewTimer(time.Until(at))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			t0 := time.Now()
			if err := l.reloadSite(ctx, s); err != nil {
				rr.failed = append(rr.failed, err.Error())
				continue
			}
			rr.reloads = append(rr.reloads, time.Since(t0))
		}
	})
	res, err := l.measure(ctx, s, newConn, l.opts.reloadD, label)
	wg.Wait()
	rr.load = res
	return rr, err
}

// reloadSite runs `zsm reload --wait --site bench` against s's broker.
func (l *lab) reloadSite(ctx context.Context, s *server) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, l.binary("zsm"), "reload", "--wait", "--site", siteName)
	cmd.Env = l.env("XDG_RUNTIME_DIR=" + s.runtimeDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("zsm reload: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
