package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// wrk runs load with wrk (https://github.com/wg/wrk), the Debian package wrk.
type wrk struct {
	path string
}

func (wrk) Describe(threads int) string { return fmt.Sprintf("wrk -t%d", threads) }

// RunsFor is d in whole seconds, as wrk runs it.
func (wrk) RunsFor(d time.Duration) time.Duration {
	return time.Duration(wrkDuration(d)) * time.Second
}

// wrkDuration is d in whole seconds, at least one: wrk's -d takes no
// fractions.
func wrkDuration(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// Load runs `wrk -tT -cC -dDs --latency [-H 'Connection: close'] http://ADDR` + the path.
func (w wrk) Load(ctx context.Context, s loadSpec) (loadResult, error) {
	secs := wrkDuration(s.duration)
	threads := min(max(s.threads, 1), s.clients)
	args := []string{
		"-t" + strconv.Itoa(threads), "-c" + strconv.Itoa(s.clients), "-d" + strconv.Itoa(secs) + "s",
		"--timeout", "5s", "--latency",
	}
	if s.conn == newConn {
		args = append(args, "-H", "Connection: close")
	}
	args = append(args, "http://"+s.addr+s.target())
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, w.path, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		return loadResult{}, fmt.Errorf("wrk: %w", ctx.Err())
	}
	if err != nil {
		return loadResult{}, fmt.Errorf("wrk %s: %w: %s", strings.Join(args, " "),
			err, strings.TrimSpace(stdout.String()+stderr.String()))
	}
	r, err := parseWrk(stdout.String())
	if err != nil {
		return loadResult{}, fmt.Errorf("wrk %s: %w", strings.Join(args, " "), err)
	}
	return r, nil
}

var (
	wrkRequests = regexp.MustCompile(`(?m)^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h),`)
	wrkRate     = regexp.MustCompile(`(?m)^Requests/sec:\s+([\d.]+)\s*$`)
	wrkPercent  = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$`)
	wrkSocket   = regexp.MustCompile(`(?m)^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)\s*$`)
	wrkStatus   = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses: (\d+)\s*$`)
)

// errWrkOutput means wrk printed something parseWrk does not understand.
var errWrkOutput = errors.New("bench: unexpected wrk output")

// parseWrk reads what `wrk --latency` prints.
func parseWrk(out string) (loadResult, error) {
	var r loadResult
	bad := func(what string) (loadResult, error) {
		return loadResult{}, fmt.Errorf("%w: no %s in:\n%s", errWrkOutput, what, out)
	}
	m := wrkRequests.FindStringSubmatch(out)
	if m == nil {
		return bad("request count")
	}
	r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	r.Elapsed = wrkTime(m[2], m[3])
	m = wrkRate.FindStringSubmatch(out)
	if m == nil {
		return bad("Requests/sec")
	}
	r.ReqPerSec, _ = strconv.ParseFloat(m[1], 64)
	seen := 0
	for _, m := range wrkPercent.FindAllStringSubmatch(out, -1) {
		d := wrkTime(m[2], m[3])
		if m[1] == "50" {
			r.P50 = d
		} else {
			r.P99 = d
		}
		seen++
	}
	if seen != 2 {
		return bad("latency distribution (run wrk with --latency)")
	}
	if m := wrkSocket.FindStringSubmatch(out); m != nil {
		n := make([]int64, 4)
		for i := range n {
			n[i], _ = strconv.ParseInt(m[i+1], 10, 64)
		}
		r.Errors.Connect, r.Errors.Read, r.Errors.Write, r.Errors.Timeout = n[0], n[1], n[2], n[3]
	}
	if m := wrkStatus.FindStringSubmatch(out); m != nil {
		r.Errors.Status, _ = strconv.ParseInt(m[1], 10, 64)
	}
	return r, nil
}

// wrkTime converts one of wrk's times ("77.00us", "3.37ms", "2.10s").
func wrkTime(num, unit string) time.Duration {
	v, _ := strconv.ParseFloat(num, 64)
	scale := map[string]time.Duration{
		"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour,
	}[unit]
	return time.Duration(v * float64(scale))
}
