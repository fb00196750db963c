package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Scenarios, in the order they run.
const (
	scenarioThroughput = "throughput"
	scenarioStart      = "start"
	scenarioReload     = "reload"
	scenarioCost       = "cost"
)

var allScenarios = []string{scenarioThroughput, scenarioStart, scenarioReload, scenarioCost}

// maxBody is the most hello answers to GET /bytes/N (its maxBytes; the
// two change together).
const maxBody = 16 << 20

// options are the command line, resolved.
type options struct {
	scenarios []string
	only      []string // targets; nil: all
	conns     []string // keepalive, newconn
	loader    string   // wrk or go
	peers     bool
	sessions  bool // each server in a session of its own (startProcess)
	quick     bool

	rounds   int
	duration time.Duration
	warmup   time.Duration
	clients  int
	threads  int

	coldN int
	// sites is how many sites the many-sites scenario puts in one file,
	// and sitesCold how many of them it cold starts.
	sites, sitesCold int
	delays           []time.Duration
	warmN            int
	reloads          int
	reloadD          time.Duration
	workers          []int
	// proxyClients are the further connection counts at which proxy
	// mode is compared with haproxy, keep-alive.
	proxyClients []int
	proxyBody    int // bytes per response in that comparison, besides hello's
	proxyRounds  int // rounds of each comparison of proxy mode with haproxy
	cpuD         time.Duration
	idleN        int
	idleFor      time.Duration

	jsonPath string
	render   bool // re-render mdPath from jsonPath and bench/notes.md, measuring nothing
	mdPath   string
	pprofDir string
	perfDir  string
}

// parseFlags reads args. Relative output paths are relative to root.
func parseFlags(args []string, root string, stderr io.Writer) (options, error) {
	var o options
	fs, lists := o.flagSet(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, errUsage
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick {
		o.shorten(set)
	}
	usage := func(err error) (options, error) {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return o, errUsage
	}
	if fs.NArg() > 0 {
		return usage(fmt.Errorf("unexpected arguments: %q", fs.Args()))
	}
	if err := o.parseLists(lists); err != nil {
		return usage(err)
	}
	if err := o.check(); err != nil {
		return usage(err)
	}
	o.resolveOutputs(root, set)
	return o, nil
}

// listFlags are the flags that take a comma-separated list, as given.
type listFlags struct {
	scenarios, only, conns, delays, workers, proxyClients *string
}

// flagSet defines the command's flags: the plain ones straight into o, the
// lists as strings for parseLists.
func (o *options) flagSet(stderr io.Writer) (*flag.FlagSet, listFlags) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./bench [flags]   (make bench)\n\nMeasures zsm against its peers; see bench/doc.go.\n\n")
		fs.PrintDefaults()
	}
	var lists listFlags
	lists.scenarios = fs.String("scenario", strings.Join(allScenarios, ","), "scenarios to run: "+strings.Join(allScenarios, ", "))
	lists.only = fs.String("only", "", "targets to run (default all): "+strings.Join(allTargets, ", "))
	lists.conns = fs.String("conn", keepAlive+","+newConn, "kinds of connection for throughput: keepalive, newconn")
	fs.StringVar(&o.loader, "loader", "wrk", "load generator: wrk, or go (built in, for machines without wrk)")
	fs.BoolVar(&o.peers, "peers", true, "measure haproxy, systemd-socket-proxyd and nginx (false: skip them)")
	fs.BoolVar(&o.sessions, "sessions", true, "start each server in a session of its own, as systemd starts each service (false: a partial run)")
	fs.BoolVar(&o.quick, "quick", false, "very short runs, one round (flags given explicitly still apply)")
	fs.IntVar(&o.rounds, "rounds", 5, "rounds per comparison; each runs every target once, in rotated order")
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "length of one throughput load (wrk: whole seconds)")
	fs.DurationVar(&o.warmup, "warmup", 500*time.Millisecond, "unmeasured load on each server before its first round")
	fs.IntVar(&o.clients, "connections", 8, "concurrent connections of the load (wrk -c)")
	fs.IntVar(&o.threads, "threads", 1, "wrk threads (wrk -t)")
	fs.IntVar(&o.coldN, "cold-n", 10, "cold starts per site and start delay")
	fs.IntVar(&o.sites, "sites", 1000, "sites in one file for the many-sites cold start (0: skip it)")
	fs.IntVar(&o.sitesCold, "sites-cold", 10, "of those, how many get a cold start (and as many plain units)")
	lists.delays = fs.String("delays", "0s,200ms", "start delays of the app for cold starts")
	fs.IntVar(&o.warmN, "warm-n", 2000, "sequential requests per round for the warm-pool latency")
	fs.IntVar(&o.reloads, "reloads", 10, "reloads during a reload run")
	fs.DurationVar(&o.reloadD, "reload-duration", 5*time.Second, "length of a reload run and of its steady twin")
	lists.workers = fs.String("workers", "1,16,64", "pool sizes for the broker's memory")
	lists.proxyClients = fs.String("proxy-connections", "1,64", `connection counts besides -connections at which proxy mode is compared with haproxy, keep-alive ("" for none: a partial run)`)
	fs.IntVar(&o.proxyRounds, "proxy-rounds", 10, "rounds of each comparison of proxy mode with haproxy")
	fs.IntVar(&o.proxyBody, "proxy-body", 64<<10, "bytes per response (hello's GET /bytes/N) of a second set of those comparisons (0 for none: a partial run)")
	fs.DurationVar(&o.cpuD, "cpu-duration", 5*time.Second, "length of the load that measures CPU per 100k connections")
	fs.IntVar(&o.idleN, "idle-conns", 10000, "concurrent idle connections to hold")
	fs.DurationVar(&o.idleFor, "idle-hold", 2*time.Second, "how long to hold them before checking each")
	fs.StringVar(&o.jsonPath, "json", defaultJSON, `JSON results, relative to the module root ("" for none); by default written by full runs only`)
	fs.StringVar(&o.mdPath, "md", defaultMarkdown, `markdown report, relative to the module root ("" for none); by default written by full runs only`)
	fs.BoolVar(&o.render, "render", false, "measure nothing: rewrite the markdown report (-md) from the JSON results (-json) and bench/notes.md as they are now, after editing the notes")
	fs.StringVar(&o.pprofDir, "pprof", "", "start each broker with ZSM_CPUPROFILE=DIR/LABEL.pprof")
	fs.StringVar(&o.perfDir, "perf", "", "record `perf record -g -p BROKER` into DIR during every measured load of a zsm target")
	return fs, lists
}

// shorten applies -quick to the flags not given explicitly (set).
func (o *options) shorten(set map[string]bool) {
	quick := map[string]func(){
		"rounds":          func() { o.rounds = 1 },
		"proxy-rounds":    func() { o.proxyRounds = 1 },
		"duration":        func() { o.duration = time.Second },
		"warmup":          func() { o.warmup = 100 * time.Millisecond },
		"cold-n":          func() { o.coldN = 3 },
		"sites":           func() { o.sites = 100 },
		"sites-cold":      func() { o.sitesCold = 3 },
		"warm-n":          func() { o.warmN = 300 },
		"reload-duration": func() { o.reloadD = 2 * time.Second },
		"cpu-duration":    func() { o.cpuD = time.Second },
		"idle-conns":      func() { o.idleN = 1000 },
		"idle-hold":       func() { o.idleFor = 200 * time.Millisecond },
	}
	for name, f := range quick {
		if !set[name] {
			f()
		}
	}
}

// parseLists parses the list flags into o. The error, a usage message,
// names the flag.
func (o *options) parseLists(lists listFlags) error {
	var err error
	if o.scenarios, err = list(*lists.scenarios, allScenarios); err != nil {
		return fmt.Errorf("-scenario: %v", err)
	}
	if *lists.only != "" {
		if o.only, err = list(*lists.only, allTargets); err != nil {
			return fmt.Errorf("-only: %v", err)
		}
	}
	if o.conns, err = list(*lists.conns, []string{keepAlive, newConn}); err != nil {
		return fmt.Errorf("-conn: %v", err)
	}
	if o.loader != "wrk" && o.loader != "go" {
		return fmt.Errorf("-loader %q: want wrk or go", o.loader)
	}
	for _, s := range splitList(*lists.delays) {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return fmt.Errorf("-delays: %q is not a duration", s)
		}
		o.delays = append(o.delays, d)
	}
	if o.workers, err = counts(*lists.workers); err != nil {
		return fmt.Errorf("-workers: %v", err)
	}
	if o.proxyClients, err = counts(*lists.proxyClients); err != nil {
		return fmt.Errorf("-proxy-connections: %v", err)
	}
	return nil
}

// check checks the ranges of the numeric flags. The error is a usage
// message.
func (o *options) check() error {
	for name, v := range map[string]int{"rounds": o.rounds, "proxy-rounds": o.proxyRounds, "connections": o.clients, "threads": o.threads,
		"cold-n": o.coldN, "sites-cold": o.sitesCold, "warm-n": o.warmN, "reloads": o.reloads, "idle-conns": o.idleN} {
		if v < 1 {
			return fmt.Errorf("-%s must be at least 1", name)
		}
	}
	if o.proxyBody < 0 || o.proxyBody > maxBody {
		return fmt.Errorf("-proxy-body %d: must be from 0 to %d (hello's GET /bytes/N)", o.proxyBody, maxBody)
	}
	for name, v := range map[string]time.Duration{"duration": o.duration, "reload-duration": o.reloadD, "cpu-duration": o.cpuD} {
		if v <= 0 {
			return fmt.Errorf("-%s must be positive", name)
		}
	}
	return nil
}

// resolveOutputs drops the default outputs of a partial run, which must not
// overwrite the results of a full one, unless given explicitly (set), and
// makes relative output paths relative to root.
func (o *options) resolveOutputs(root string, set map[string]bool) {
	if o.partial() && !o.render {
		if !set["json"] {
			o.jsonPath = ""
		}
		if !set["md"] {
			o.mdPath = ""
		}
	}
	for _, p := range []*string{&o.jsonPath, &o.mdPath, &o.pprofDir, &o.perfDir} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(root, *p)
		}
	}
}

// Where a full run writes its results, relative to the module root.
const (
	defaultJSON     = "bench/results.json"
	defaultMarkdown = "BENCHMARKS.md"
)

// partial reports whether the run leaves something out: -quick, a subset
// of the scenarios, targets or kinds of connection, or no comparison of
// proxy mode at other connection counts or response sizes; or runs its
// servers otherwise than systemd would (-sessions=false).
func (o options) partial() bool {
	return o.quick || !o.sessions || len(o.scenarios) < len(allScenarios) || o.only != nil || len(o.conns) < 2 ||
		len(o.proxyClients) == 0 || o.proxyBody == 0
}

// splitList splits a comma-separated flag value.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// counts splits s into positive numbers.
func counts(s string) ([]int, error) {
	var ns []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		ns = append(ns, n)
	}
	return ns, nil
}

// list splits s and checks every entry is one of valid.
func list(s string, valid []string) ([]string, error) {
	out := splitList(s)
	if len(out) == 0 {
		return nil, errors.New("empty")
	}
	for i, v := range out {
		if !slices.Contains(valid, v) {
			return nil, fmt.Errorf("unknown %q (want one of %s)", v, strings.Join(valid, ", "))
		}
		if slices.Contains(out[:i], v) {
			return nil, fmt.Errorf("%q twice", v)
		}
	}
	return out, nil
}

// wants reports whether target runs: -only and -peers.
func (o options) wants(target string) bool {
	if isPeer(target) && !o.peers {
		return false
	}
	return o.only == nil || slices.Contains(o.only, target)
}

// wanted returns the targets of ts that run, in order.
func (o options) wanted(ts []string) []string {
	var out []string
	for _, t := range ts {
		if o.wants(t) {
			out = append(out, t)
		}
	}
	return out
}

// has reports whether scenario runs.
func (o options) has(scenario string) bool { return slices.Contains(o.scenarios, scenario) }
