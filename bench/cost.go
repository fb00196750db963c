package main

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// runCost is scenario 4: what the broker costs in memory and CPU, and
// whether it holds many idle connections.
func (l *lab) runCost(ctx context.Context) *Scenario {
	sc := &Scenario{Name: scenarioCost, Title: "4. Broker cost"}
	if l.opts.wants(targetHandoff) {
		l.costMemory(ctx, sc)
	}
	if ctx.Err() == nil {
		l.costCPU(ctx, sc)
	}
	if ctx.Err() == nil {
		l.costIdle(ctx, sc)
	}
	return sc
}

// costMemory measures the broker's resident memory with pools of each
// -workers size.
func (l *lab) costMemory(ctx context.Context, sc *Scenario) {
	loadFor := min(time.Second, l.opts.cpuD)
	sc.Notes = append(sc.Notes, fmt.Sprintf(
		"Memory: a handoff site with `eager = true` and `min_idle = max = N`, once all N workers are up and have said they serve, "+
			"after %v of load with a new connection per request: VmRSS and VmHWM (peak) of the `zsm serve` process from /proc; "+
			"the workers' total for scale.", loadFor))
	tab := sc.table("Broker memory", "workers", "broker RSS", "broker peak RSS", "workers' RSS, total", "target")
	for _, n := range l.opts.workers {
		if ctx.Err() != nil {
			return
		}
		label := fmt.Sprintf("%s-memory-%d", scenarioCost, n)
		s, err := l.startZSM(ctx, site{mode: targetHandoff, workers: n, eager: true, label: label})
		if err != nil {
			sc.fail(err)
			continue
		}
		mem, workers, err := l.brokerMemory(ctx, s, n, loadFor)
		if serr := l.stopServer(s); serr != nil {
			sc.fail(serr)
		}
		if err != nil {
			sc.fail(fmt.Errorf("%d workers: %w", n, err))
			continue
		}
		base := id(scenarioCost, "memory", fmt.Sprintf("workers_%d", n))
		sc.add(id(base, "broker_peak_mib"), mib(mem.Peak), "MiB")
		sc.add(id(base, "workers_rss_mib"), mib(workers), "MiB")
		cell := ""
		if n == rssWorkers {
			cell = sc.check(id(base, "broker_rss_mib"), mib(mem.RSS), "MiB", atMost(rssMax, "%.0f MiB", rssMax))
		} else {
			sc.add(id(base, "broker_rss_mib"), mib(mem.RSS), "MiB")
		}
		tab.row(fmt.Sprint(n), formatValue(mib(mem.RSS), "MiB"), formatValue(mib(mem.Peak), "MiB"), formatValue(mib(workers), "MiB"), cell)
	}
}

// brokerMemory waits for n workers of s, loads s for d and reads the
// broker's memory and the workers' total RSS.
func (l *lab) brokerMemory(ctx context.Context, s *server, n int, d time.Duration) (memory, int64, error) {
	pid := s.main.pid()
	var kids []int
	err := eventually(ctx, readyTimeout+time.Duration(n)*time.Second, fmt.Sprintf("%d workers to serve", n), func() (bool, error) {
		if s.main.exited() {
			return false, s.main.exitError()
		}
		var err error
		if kids, err = children(pid); err != nil {
			return false, err
		}
		return len(kids) >= n && strings.Count(s.main.output(), "hello: serving") >= n, nil
	})
	if err != nil {
		return memory{}, 0, err
	}
	if _, err := (goLoader{}).Load(ctx, loadSpec{addr: s.addr, conn: newConn, clients: l.opts.clients, duration: d}); err != nil {
		return memory{}, 0, err
	}
	mem, err := readMemory(pid)
	if err != nil {
		return memory{}, 0, err
	}
	var total int64
	for _, k := range kids {
		if m, err := readMemory(k); err == nil {
			total += m.RSS
		}
	}
	return mem, total, nil
}

// costCPU measures CPU seconds per 100k connections of the broker (handoff
// and proxy) and of haproxy.
func (l *lab) costCPU(ctx context.Context, sc *Scenario) {
	targets := l.opts.wanted([]string{targetHandoff, targetProxy, targetHAProxy})
	if len(targets) == 0 {
		return
	}
	sc.Notes = append(sc.Notes, fmt.Sprintf(
		"CPU: user + system time of the broker process (of haproxy for haproxy; workers and backends not included) from /proc/PID/stat "+
			"over %v of load (%s, %d connections, a new connection per request), scaled to 100k connections.",
		l.loadDuration(l.opts.cpuD), l.loadName(), l.opts.clients))
	tab := sc.table("CPU per 100k connections", "server", "connections", "req/s", "CPU", "CPU per 100k")
	for _, t := range targets {
		if ctx.Err() != nil {
			return
		}
		label := id(scenarioCost, "cpu", t)
		s, err := l.startTarget(ctx, t, label)
		if err != nil {
			sc.fail(err)
			continue
		}
		l.warm(ctx, s, newConn)
		res, cpu, err := l.cpuRun(ctx, s, label)
		if serr := l.stopServer(s); serr != nil {
			sc.fail(serr)
		}
		if err != nil {
			sc.fail(fmt.Errorf("cpu %s: %w", t, err))
			continue
		}
		per := cpu.Seconds() * 100000 / float64(max(res.Requests, 1))
		sc.add(id(scenarioCost, "cpu", t, "cpu_s_per_100k"), per, "s")
		sc.add(id(scenarioCost, "cpu", t, "connections"), float64(res.Requests), "conns")
		tab.row(t, fmt.Sprint(res.Requests), formatValue(res.ReqPerSec, "req/s"), formatValue(cpu.Seconds(), "s"), formatValue(per, "s"))
	}
}

// cpuRun measures the CPU time of s's main process over one load.
func (l *lab) cpuRun(ctx context.Context, s *server, label string) (loadResult, time.Duration, error) {
	pid := s.main.pid()
	before, err := cpuTime(pid)
	if err != nil {
		return loadResult{}, 0, err
	}
	res, err := l.measure(ctx, s, newConn, l.opts.cpuD, label)
	if err != nil {
		return loadResult{}, 0, err
	}
	after, err := cpuTime(pid)
	if err != nil {
		return loadResult{}, 0, err
	}
	return res, after - before, nil
}
