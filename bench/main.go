package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

func main() {
	if code, ok := innerMain(); ok {
		os.Exit(code)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// errUsage marks a command-line mistake, already reported.
var errUsage = errors.New("bench: usage")

// run is the command: flags, checks, build, scenarios, report.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	opts, err := parseFlags(args, root, stderr)
	if err != nil {
		return err
	}
	if opts.render {
		return render(root, opts, stderr)
	}
	tools, err := checkTools(opts)
	if err != nil {
		return err
	}
	var ld loader = goLoader{}
	if opts.loader == "wrk" {
		ld = wrk{path: tools["wrk"]}
	}
	for _, d := range []string{opts.pprofDir, opts.perfDir} {
		if d != "" {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
	}
	res := &Results{Machine: describeMachine(ctx, root, tools), Settings: settingsOf(opts)}
	res.Settings.Args = append([]string{}, args...)
	l, err := newLab(ctx, opts, root, ld, stderr)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := l.close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleaning up: %w", cerr))
		}
	}()

	failed, err := runScenarios(ctx, l, opts, res, stdout, stderr)
	if err != nil {
		return err
	}
	res.finish()
	printSummary(stdout, res)
	if err := writeResults(opts, res, stderr); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("scenarios failed: %s (see above)", strings.Join(failed, ", "))
	}
	return nil
}

// runScenarios runs the scenarios opts asks for, in order, adds each to res
// and prints it. It returns the names of those that failed, and ctx's error
// if it ended the run.
func runScenarios(ctx context.Context, l *lab, opts options, res *Results, stdout, stderr io.Writer) (failed []string, err error) {
	type scenarioFunc func(context.Context) *Scenario
	funcs := map[string]scenarioFunc{
		scenarioThroughput: l.runThroughput,
		scenarioStart:      l.runStart,
		scenarioReload:     l.runReload,
		scenarioCost:       l.runCost,
	}
	for _, name := range allScenarios {
		if !opts.has(name) {
			continue
		}
		fmt.Fprintf(stderr, "== %s\n", name)
		sc := funcs[name](ctx)
		res.Scenarios = append(res.Scenarios, sc)
		printScenario(stdout, sc)
		if sc.Error != "" {
			failed = append(failed, name)
		}
		if ctx.Err() != nil {
			return failed, ctx.Err()
		}
	}
	return failed, nil
}

// writeResults writes the JSON results and the markdown report where opts
// says, or tells why a partial run wrote neither.
func writeResults(opts options, res *Results, stderr io.Writer) error {
	if opts.jsonPath != "" {
		if err := writeJSON(opts.jsonPath, res); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %s\n", opts.jsonPath)
	}
	if opts.mdPath != "" {
		if err := writeMarkdown(opts.mdPath, res, notes); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %s\n", opts.mdPath)
	}
	if opts.jsonPath == "" && opts.mdPath == "" && opts.partial() {
		fmt.Fprintf(stderr, "a partial run: %s and %s left as they are (-json FILE, -md FILE to write)\n", defaultJSON, defaultMarkdown)
	}
	return nil
}

// moduleRoot walks up from the working directory to the directory holding
// go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("bench: no go.mod in the working directory or above: run it inside the zsm module")
		}
		dir = parent
	}
}
