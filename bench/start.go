package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// runStart is scenario 2: cold start through a real systemd user manager,
// and the latency a warm pool adds to one request.
func (l *lab) runStart(ctx context.Context) *Scenario {
	sc := &Scenario{Name: scenarioStart, Title: "2. Start"}
	l.coldStart(ctx, sc)
	if ctx.Err() == nil {
		l.manySites(ctx, sc)
	}
	if ctx.Err() == nil {
		l.warmStart(ctx, sc)
	}
	return sc
}

// kindPlain is the cold-start baseline: the app itself under a plain
// systemd socket unit (Accept=no), taking LISTEN_FDS.
const kindPlain = "plain systemd"

// coldModes are the zsm modes -only leaves for the cold start.
func (l *lab) coldModes() []string {
	return l.opts.wanted([]string{targetHandoff, targetListen, targetProxy})
}

// coldStart runs the cold starts inside test/with-systemd and reports
// them.
func (l *lab) coldStart(ctx context.Context, sc *Scenario) {
	modes, plain := l.coldModes(), l.opts.wants(targetDirect)
	if len(modes) == 0 && !plain {
		return
	}
	sc.Notes = append(sc.Notes, fmt.Sprintf(
		"Cold start: socket-activated sites through a real `systemd --user` (test/with-systemd). Before each try every "+
			"site's service is stopped (its socket keeps listening), then each site gets one request in turn: the time from "+
			"connect to the first byte of the response; %d tries per site and start delay (hello -start-delay), rotating "+
			"the order, medians, after one unmeasured try each. "+
			"The baseline (%s) is the same app under a plain socket unit (Accept=no) that it takes itself through LISTEN_FDS: "+
			"zsm's time is compared as a ratio to that one (the milliseconds added depend on the machine). Both units have StartLimitIntervalSec=0 and TriggerLimitIntervalSec=0 "+
			"(so many starts in a row would hit systemd's start limits otherwise).", l.opts.coldN, kindPlain))
	series, skipped, err := l.runCold(ctx, modes, plain)
	if skipped != "" {
		sc.Skipped = "cold start: " + skipped
		return
	}
	if err != nil {
		sc.fail(fmt.Errorf("cold start: %w", err))
		return
	}
	tab := sc.table("Cold start: connect to first byte", "start delay", "through", "p50", "min", "max", "added by zsm", "× plain", "target")
	for _, d := range l.opts.delays {
		dl := delayLabel(d)
		var plainP50 time.Duration
		for _, kind := range append([]string{kindPlain}, modes...) {
			samples, ok := series[coldKey(kind, d)]
			if !ok {
				continue
			}
			slices.Sort(samples)
			p50 := medianDuration(samples)
			base := id(scenarioStart, "cold", dl, strings.ReplaceAll(kind, " ", "_"))
			sc.add(id(base, "p50_ms"), ms(p50), "ms")
			if kind == kindPlain {
				plainP50 = p50
				tab.row(dl, kind, formatDuration(p50), formatDuration(samples[0]), formatDuration(samples[len(samples)-1]), "", "", "")
				continue
			}
			added, a, ratio, x := "n/a", math.NaN(), "n/a", math.NaN()
			if plainP50 > 0 {
				a = ms(p50 - plainP50)
				added = fmt.Sprintf("%+.2f ms", a)
				x = float64(p50) / float64(plainP50)
				ratio = fmt.Sprintf("%.2f×", x)
			}
			sc.add(id(base, "added_ms"), a, "ms")
			cell := sc.check(id(base, "vs_plain"), x, "x", atMost(coldRatioMax, "%.1f× plain", coldRatioMax))
			tab.row(dl, "zsm "+kind, formatDuration(p50), formatDuration(samples[0]), formatDuration(samples[len(samples)-1]), added, ratio, cell)
		}
	}
}

// coldKey names one series of cold starts.
func coldKey(kind string, d time.Duration) string { return kind + "/" + delayLabel(d) }

// delayLabel is "0ms", "200ms".
func delayLabel(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + "ms" }

// harnessSkip is test/with-systemd's exit status when it cannot run here.
const harnessSkip = 77

// runCold re-executes this binary under test/with-systemd to measure the
// cold starts there. It returns the samples by coldKey, or why the harness
// could not run here.
func (l *lab) runCold(ctx context.Context, modes []string, plain bool) (map[string][]time.Duration, string, error) {
	var ds []string
	for _, d := range l.opts.delays {
		ds = append(ds, d.String())
	}
	args := []string{"-n", strconv.Itoa(l.opts.coldN), "-modes", strings.Join(modes, ","),
		"-plain=" + strconv.FormatBool(plain), "-delays", strings.Join(ds, ",")}
	// Generous: every try is bounded inside, this only catches a hang.
	limit := time.Duration(l.opts.coldN+1)*time.Duration(len(l.opts.delays)*(len(modes)+1))*(30*time.Second) + time.Minute
	var series map[string][]time.Duration
	skipped, err := l.runInner(ctx, innerCold, args, limit, &series)
	return series, skipped, err
}

// runInner re-executes this binary under test/with-systemd to run the
// part inner names there, with args and -bin, -dir and -out, and decodes
// the JSON it writes to -out into result. It returns why the harness could
// not run here, if it could not.
func (l *lab) runInner(ctx context.Context, inner string, args []string, limit time.Duration, result any) (string, error) {
	if !isRoot() {
		return "needs root: the real-systemd harness (test/with-systemd) needs a private pid + mount namespace and cgroups", nil
	}
	script := filepath.Join(l.root, "test", "with-systemd")
	if _, err := os.Stat(script); err != nil {
		return "", fmt.Errorf("the harness: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding the bench binary: %w", err)
	}
	out := l.path(inner, ".json")
	args = append([]string{self, "-bin", l.bin, "-dir", l.dir, "-out", out}, args...)
	cctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(cctx, script, args...)
	cmd.Env = append(l.env(), envInner+"="+inner)
	// One writer for both: exec copies them from one goroutine.
	cmd.Stdout = io.MultiWriter(l.log, &stderr)
	cmd.Stderr = cmd.Stdout
	// The harness tears down on SIGTERM; give it time to.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 45 * time.Second
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == harnessSkip {
		reason := "the harness cannot run here"
		for line := range strings.Lines(stderr.String()) {
			if _, r, ok := strings.Cut(line, "skipping: "); ok {
				reason = strings.TrimSpace(r)
			}
		}
		return reason, nil
	}
	if err != nil {
		// The report keeps only this line: say why, not just the status.
		return "", fmt.Errorf("%s: %w; its output ended:\n%s", script, err, lastLines(stderr.String(), 15))
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return "", fmt.Errorf("the harness run wrote no results: %w", err)
	}
	if err := json.Unmarshal(b, result); err != nil {
		return "", fmt.Errorf("results of the harness run: %w", err)
	}
	return "", nil
}

// warmStart measures, for a warm pool, connect to first byte of single
// requests on new connections, one after the other, against direct.
func (l *lab) warmStart(ctx context.Context, sc *Scenario) {
	targets := l.opts.wanted([]string{targetDirect, targetHandoff, targetListen, targetProxy})
	if len(targets) == 0 {
		return
	}
	sc.Notes = append(sc.Notes, fmt.Sprintf(
		"Warm pool: %d requests per round, one at a time, each on a new connection, to a started site (one worker, "+
			"`zsm serve` bound to its own socket) and to the app binding its port itself; connect to first byte; "+
			"%d round(s) rotating the order; medians of each round's p50 and p99.", l.opts.warmN, l.opts.rounds))
	servers, up := l.startTargets(ctx, sc, targets, func(t string) string { return id(scenarioStart, "warm", t) },
		func(s *server) { sequential(ctx, s.addr, min(l.opts.warmN, 200)) }) // warm-up, unmeasured
	defer l.stopTargets(sc, servers)
	p50s, p99s := map[string][]time.Duration{}, map[string][]time.Duration{}
	for r := range l.opts.rounds {
		for _, t := range rotate(up, r) {
			lat, err := sequential(ctx, servers[t].addr, l.opts.warmN)
			if err != nil {
				sc.fail(fmt.Errorf("warm %s round %d: %w", t, r+1, err))
				if ctx.Err() != nil {
					return
				}
				continue
			}
			p50, p99 := percentile(lat, 50), percentile(lat, 99)
			p50s[t] = append(p50s[t], p50)
			p99s[t] = append(p99s[t], p99)
			fmt.Fprintf(l.log, "  warm %-8s round %d/%d: p50 %s p99 %s\n", t, r+1, l.opts.rounds,
				formatDuration(p50), formatDuration(p99))
		}
	}
	tab := sc.table("Warm pool: connect to first byte, one request at a time", "server", "p50", "p99", "added p50 vs direct", "target")
	direct, haveDirect := p50s[targetDirect]
	for _, t := range targets {
		if _, ok := p50s[t]; !ok {
			tab.row(t, "not measured", "", "", "")
			continue
		}
		p50, p99 := medianDuration(p50s[t]), medianDuration(p99s[t])
		base := id(scenarioStart, "warm", t)
		sc.add(id(base, "p50_us"), us(p50), "us")
		sc.add(id(base, "p99_us"), us(p99), "us")
		added, cell := "", ""
		if t != targetDirect && haveDirect {
			a := us(p50 - medianDuration(direct))
			added = fmt.Sprintf("%+.0f µs", a)
			if t == targetHandoff {
				cell = sc.check(id(base, "added_p50_us"), a, "us", atMost(warmAddedMax, "%.0f µs", warmAddedMax))
			} else {
				sc.add(id(base, "added_p50_us"), a, "us")
			}
		} else if t == targetHandoff {
			cell = sc.check(id(base, "added_p50_us"), math.NaN(), "us", atMost(warmAddedMax, "%.0f µs", warmAddedMax))
		}
		tab.row(t, formatDuration(p50), formatDuration(p99), added, cell)
	}
}

// sequential makes n requests on addr one after the other, each on a new
// connection, and returns the times from connect to first byte, sorted.
func sequential(ctx context.Context, addr string, n int) ([]time.Duration, error) {
	lat := make([]time.Duration, 0, n)
	for range n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d, err := firstByte(addr, opTimeout)
		if err != nil {
			return nil, err
		}
		lat = append(lat, d)
	}
	slices.Sort(lat)
	return lat, nil
}

// firstByte connects to addr, sends GET / and returns the time from the
// start of the connect to the first byte of the response. It reads the
// whole response and fails unless the status is 200.
func firstByte(addr string, timeout time.Duration) (time.Duration, error) {
	t0 := time.Now()
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(t0.Add(timeout))
	if _, err := c.Write(requestClose); err != nil {
		return 0, err
	}
	var first [1]byte
	if _, err := io.ReadFull(c, first[:]); err != nil {
		return 0, fmt.Errorf("reading the first byte: %w", err)
	}
	d := time.Since(t0)
	resp, err := http.ReadResponse(bufio.NewReader(io.MultiReader(bytes.NewReader(first[:]), c)), nil)
	if err != nil {
		return 0, fmt.Errorf("reading the response: %w", err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, fmt.Errorf("reading the response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %s", resp.Status)
	}
	return d, nil
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
