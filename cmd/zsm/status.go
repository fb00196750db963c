package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/config/hclconfig"
	"github.com/zsm-dev/zsm/internal/control"
	"github.com/zsm-dev/zsm/internal/event"
	"github.com/zsm-dev/zsm/internal/linger"
	"github.com/zsm-dev/zsm/internal/status"
)

// The command line reaches brokers through their control sockets
// (internal/control), which every broker has, with or without systemd or
// a session bus.

// status prints every site of this user, or one in detail; with a systemd
// user manager, it says when lingering is off (except in JSON).
func statusCmd(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	serveAddr := fs.String("serve", "", "serve a status page of every site at this address (127.0.0.1:PORT or unix:PATH) instead")
	if err := fs.Parse(args); err != nil || fs.NArg() > 1 {
		fmt.Fprintln(os.Stderr, "usage: zsm status [--json] [SITE] | zsm status --serve ADDR")
		return errUsage
	}
	rtDir, err := runtimeDir()
	if err != nil {
		return err
	}
	if *serveAddr != "" {
		return servePageForAll(rtDir, *serveAddr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	warn := func(err error) { fmt.Fprintln(os.Stderr, "zsm: warning:", err) }
	sites, systemd, err := sitesOf(ctx, rtDir, fs.Arg(0), warn)
	if err != nil {
		return err
	}
	if systemd && !*asJSON { // JSON is for scripts, which may read stderr too
		linger.Warn(os.Stderr, "zsm")
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if sites == nil {
			sites = []status.Site{}
		}
		return enc.Encode(sites)
	}
	if fs.NArg() == 1 {
		return detail(stdout, sites[0], time.Now())
	}
	return table(stdout, sites)
}

// requestTimeout bounds a command's wait for a broker's answer.
const requestTimeout = 10 * time.Second

// servePageForAll serves every site as a web page until SIGTERM or SIGINT.
func servePageForAll(rtDir, addr string) error {
	a, err := hclconfig.ParseAddress(addr)
	if err != nil {
		return err
	}
	if a.Net == config.NetTCP && !loopback(a.Host) {
		fmt.Fprintf(os.Stderr, "zsm: warning: %s is reachable from other hosts; the page shows commands and errors\n", addr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log := event.Slog(slog.NewTextHandler(os.Stderr, nil))
	notice := func(level slog.Level, msg string, attrs ...slog.Attr) {
		log.Event(event.Event{Time: time.Now(), Level: level, Message: msg, Attrs: attrs})
	}
	// A user manager that fails is logged once, not on every request.
	var warned atomic.Bool
	warn := func(err error) {
		if !warned.Swap(true) {
			notice(slog.LevelWarn, "status page: systemd", slog.String("error", err.Error()))
		}
	}
	if _, systemd, _ := sitesOf(ctx, rtDir, "", warn); systemd {
		linger.Warn(os.Stderr, "zsm")
	}
	source := func(ctx context.Context) ([]status.Site, error) {
		sites, _, err := sitesOf(ctx, rtDir, "", warn)
		return sites, err
	}
	return servePage(ctx, a, rtDir, source, notice)
}

func loopback(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// table prints one line per running site, then one per site without a
// broker, which says what systemd does with its sockets.
func table(w io.Writer, sites []status.Site) error {
	var running, idle []status.Site
	for _, s := range sites {
		if s.Brokerless() {
			idle = append(idle, s)
		} else {
			running = append(running, s)
		}
	}
	if len(sites) == 0 {
		_, err := fmt.Fprintln(w, "no site is running")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(running) > 0 {
		fmt.Fprintln(tw, "SITE\tMODE\tSTATE\tWORKERS\tACTIVE\tQUEUED\tSERVED\tSHED\tFAILED\tRESTARTS\tGEN")
		for _, s := range running {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", s.Site, s.Mode, s.State, len(s.Workers),
				s.Active, s.Queued, s.Served, s.Shed, s.Failed, s.Restarts, s.Generation)
		}
		if err := tw.Flush(); err != nil || len(idle) == 0 {
			return err
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "sites without a running broker:")
	for _, s := range idle {
		fmt.Fprintf(tw, "  %s\t%s\n", s.Site, socketState(s))
	}
	return tw.Flush()
}

// socketState says what systemd does with the sockets of a site without a
// broker.
func socketState(s status.Site) string {
	addrs := strings.Join(s.Listen, ", ")
	switch s.State {
	case status.StateIdle:
		return "idle, socket listening on " + addrs
	case status.StateSocketFailed:
		for _, a := range s.Listen {
			if strings.Contains(s.LastError, a) {
				return s.LastError // the reason names the address
			}
		}
		return s.LastError + " (listen: " + addrs + ")"
	case status.StateSocketInactive:
		return fmt.Sprintf("socket inactive, nothing listens: systemctl --user start zsm@%s.socket", s.Site)
	}
	return s.State
}

// detailEvents is how many recent events `zsm status SITE` prints.
const detailEvents = 5

// detail prints one site with its recent events and workers.
func detail(w io.Writer, s status.Site, now time.Time) error {
	if s.Brokerless() {
		_, err := fmt.Fprintf(w, "site:        %s\nstate:       %s\n", s.Site, socketState(s))
		return err
	}
	fmt.Fprintf(w, "site:        %s (%s)\n", s.Site, s.Mode)
	fmt.Fprintf(w, "state:       %s, generation %d, breaker %s\n", s.State, s.Generation, s.Breaker)
	fmt.Fprintf(w, "connections: %d accepted, %d served, %d active, %d queued, %d shed, %d failed\n",
		s.Accepted, s.Served, s.Active, s.Queued, s.Shed, s.Failed)
	if s.Requests > 0 {
		fmt.Fprintf(w, "requests:    %d finished, %.1f/s over the last 10 s\n", s.Requests, s.RequestsPerSec)
	}
	fmt.Fprintf(w, "restarts:    %d\n", s.Restarts)
	if len(s.Listen) > 0 {
		fmt.Fprintf(w, "listen:      %s\n", strings.Join(s.Listen, ", "))
	}
	if s.Version != "" {
		fmt.Fprintf(w, "broker:      zsm %s\n", s.Version)
	}
	if len(s.Listeners) > 0 {
		fmt.Fprintf(w, "accepting:   %s\n", acceptQueues(s.Listeners))
	}
	if l := latencies(s); l != "" {
		fmt.Fprintf(w, "latency:     %s\n", l)
	}
	if s.LastError != "" {
		fmt.Fprintf(w, "last error:  %s\n", s.LastError)
	}
	if s.LogDropped > 0 {
		fmt.Fprintf(w, "log:         %d events dropped (a log destination could not keep up)\n", s.LogDropped)
	}
	if n := len(s.Events); n > 0 {
		fmt.Fprintln(w, "recent:")
		for _, e := range s.Events[max(n-detailEvents, 0):] {
			at := time.UnixMicro(int64(e.Time)).In(now.Location()).Format("15:04:05")
			fmt.Fprintf(w, "  %s %-5s %s\n", at, e.Level, e.Message)
		}
	}
	if len(s.Workers) == 0 {
		_, err := fmt.Fprintln(w, "workers:     none")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nPID\tSTATE\tBUSY\tHELD\tSERVED\tAGE\tRSS")
	for _, wk := range s.Workers {
		age := now.Sub(time.UnixMicro(int64(wk.Started))).Round(time.Second)
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\t%s\t%.1fM\n", wk.Pid, wk.State, wk.Busy, wk.Held, wk.Served, age, float64(wk.RSS)/(1<<20))
	}
	return tw.Flush()
}

// acceptQueues says how many connections wait in each listening socket's
// kernel queue: "127.0.0.1:8080 2 waiting (backlog 4096), unix:blog.sock
// waiting unknown".
func acceptQueues(ls []status.Listener) string {
	var out []string
	for _, l := range ls {
		if l.Backlog == 0 {
			out = append(out, l.Addr+" waiting unknown")
			continue
		}
		out = append(out, fmt.Sprintf("%s %d waiting (backlog %d)", l.Addr, l.Queue, l.Backlog))
	}
	return strings.Join(out, ", ")
}

// latencies says how long 99% of the connections waited in the broker
// and took to reach their worker: "queue wait p99 ≤ 500µs, handoff p99
// ≤ 250µs (18342 connections)"; "" when the broker counted none.
func latencies(s status.Site) string {
	var out []string
	for _, p := range s.P99s() {
		op := "≤"
		if p.Above {
			op = ">"
		}
		out = append(out, fmt.Sprintf("%s p99 %s %s", p.What, op, seconds(p.Bound)))
	}
	if len(out) == 0 {
		return ""
	}
	return fmt.Sprintf("%s (%d connections)", strings.Join(out, ", "), s.QueueWait.Count())
}

// seconds says s seconds as a duration: 500µs, 2.5ms, 1s.
func seconds(s float64) time.Duration { return time.Duration(math.Round(s * float64(time.Second))) }

// drain asks a site's broker to stop its workers gracefully.
func drain(args []string) error {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: zsm drain SITE")
		return errUsage
	}
	rtDir, err := runtimeDir()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	if err := control.NewClient(rtDir, args[0]).Drain(ctx); err != nil {
		return fmt.Errorf("drain %s: %w", args[0], err)
	}
	return nil
}
