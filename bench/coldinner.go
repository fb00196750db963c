package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// envInner, set by the bench when it re-executes itself, runs a part of
// the bench instead of the command: innerCold or innerSites inside
// test/with-systemd.
const (
	envInner   = "ZSM_BENCH_INNER"
	innerCold  = "cold"
	innerSites = "sites"
)

// innerMain runs the part envInner names and returns the exit status, or
// false when the process is the command itself. main and TestMain call it
// first.
func innerMain() (int, bool) {
	switch os.Getenv(envInner) {
	case "":
		return 0, false
	case innerCold, innerSites:
		run := coldInner
		if os.Getenv(envInner) == innerSites {
			run = sitesInner
		}
		if err := run(context.Background(), os.Args[1:], os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "bench, inside the harness:", err)
			return 1, true
		}
		return 0, true
	}
	fmt.Fprintf(os.Stderr, "bench: unknown %s=%q\n", envInner, os.Getenv(envInner))
	return 2, true
}

// coldTimeout bounds one cold start, connect to last byte.
const coldTimeout = 30 * time.Second

// coldUnit is one socket-activated site inside the harness.
type coldUnit struct {
	kind    string // kindPlain or a zsm mode
	delay   time.Duration
	addr    string
	service string // the unit to stop before each try
	socket  string
}

// coldInner runs inside test/with-systemd: it writes the units, starts
// their sockets and times cold starts, then writes the samples by coldKey
// as JSON to -out.
func coldInner(ctx context.Context, args []string, log io.Writer) error {
	fs := flag.NewFlagSet("cold", flag.ContinueOnError)
	bin := fs.String("bin", "", "directory of zsm, zsmgen and hello")
	dir := fs.String("dir", "", "a directory for the config")
	out := fs.String("out", "", "where to write the samples")
	n := fs.Int("n", 10, "tries per unit")
	modesFlag := fs.String("modes", "", "zsm modes")
	plain := fs.Bool("plain", true, "measure the plain systemd baseline")
	delaysFlag := fs.String("delays", "0s", "start delays")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if os.Getenv("ZSM_HARNESS") != "1" {
		return errors.New("not inside test/with-systemd (ZSM_HARNESS is not 1)")
	}
	var delays []time.Duration
	for _, s := range splitList(*delaysFlag) {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("-delays: %w", err)
		}
		delays = append(delays, d)
	}
	unitDir := filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "systemd", "user")
	if err := os.MkdirAll(unitDir, 0o755); err != nil {
		return err
	}
	units, err := writeColdUnits(ctx, *bin, *dir, unitDir, splitList(*modesFlag), *plain, delays)
	if err != nil {
		return err
	}
	if _, err := systemctl(ctx, "daemon-reload"); err != nil {
		return err
	}
	var sockets, all []string
	for _, u := range units {
		sockets = append(sockets, u.socket)
		all = append(all, u.socket, u.service)
	}
	defer systemctl(context.Background(), append([]string{"stop", "--"}, all...)...)
	if _, err := systemctl(ctx, append([]string{"start", "--"}, sockets...)...); err != nil {
		return err
	}
	var services []string
	for _, u := range units {
		services = append(services, u.service)
	}
	samples := map[string][]time.Duration{}
	// Try 0 is unmeasured: it brings the binaries into the page cache.
	for i := range *n + 1 {
		// Stop them all first: a stop's own work (workers exiting, the
		// journal) must not slow the next site's start.
		if err := stopServices(ctx, services, sockets); err != nil {
			return err
		}
		for _, u := range rotate(units, i) {
			d, err := coldTry(ctx, u)
			if err != nil {
				return err
			}
			if i == 0 {
				continue
			}
			k := coldKey(u.kind, u.delay)
			samples[k] = append(samples[k], d)
			fmt.Fprintf(log, "  cold %-13s delay %-6s try %d/%d: %s\n", u.kind, delayLabel(u.delay), i, *n, formatDuration(d))
		}
	}
	b, err := json.Marshal(samples)
	if err != nil {
		return err
	}
	return os.WriteFile(*out, b, 0o600)
}

// writeColdUnits writes one zsm site per mode and delay (zsmgen units) and
// one plain socket + service pair per delay, into unitDir.
func writeColdUnits(ctx context.Context, bin, dir, unitDir string, modes []string, plain bool, delays []time.Duration) ([]coldUnit, error) {
	var units []coldUnit
	var cfg strings.Builder
	hello := filepath.Join(bin, "hello")
	// Allow many starts in a row, for zsm and plain alike.
	const startLimits = "[Unit]\nStartLimitIntervalSec=0\n"
	const triggerLimits = "[Socket]\nTriggerLimitIntervalSec=0\n"
	for _, d := range delays {
		for _, m := range modes {
			port, err := freePort()
			if err != nil {
				return nil, err
			}
			name := "cold-" + m + "-" + delayLabel(d)
			addr := "127.0.0.1:" + strconv.Itoa(port)
			if m == targetProxy {
				bport, err := freePort()
				if err != nil {
					return nil, err
				}
				writeSite(&cfg, name, addr, m, false, []string{hello, "-addr", "127.0.0.1:{port}", "-start-delay", d.String()}, &backend{ports: []int{bport}}, "")
			} else {
				writeSite(&cfg, name, addr, m, false, []string{hello, "-start-delay", d.String()}, nil, "min_idle = 1\n    max      = 1")
			}
			u := coldUnit{kind: m, delay: d, addr: addr, service: "zsm@" + name + ".service", socket: "zsm@" + name + ".socket"}
			units = append(units, u)
		}
		if plain {
			port, err := freePort()
			if err != nil {
				return nil, err
			}
			name := "zsmbench-plain-" + delayLabel(d)
			addr := "127.0.0.1:" + strconv.Itoa(port)
			files := map[string]string{
				name + ".socket": fmt.Sprintf("[Unit]\nDescription=zsm bench: plain socket activation\n\n[Socket]\nListenStream=%s\nBacklog=4096\n\n%s", addr, triggerLimits),
				name + ".service": fmt.Sprintf("%s\n[Service]\nExecStart=%s -addr %s -start-delay %s\n",
					startLimits, hello, addr, d),
			}
			for f, body := range files {
				if err := os.WriteFile(filepath.Join(unitDir, f), []byte(body), 0o644); err != nil {
					return nil, err
				}
			}
			units = append(units, coldUnit{kind: kindPlain, delay: d, addr: addr, service: name + ".service", socket: name + ".socket"})
		}
	}
	if len(modes) > 0 {
		path := filepath.Join(dir, "cold.hcl")
		if err := os.WriteFile(path, []byte(cfg.String()), 0o600); err != nil {
			return nil, err
		}
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "zsmgen"), "units", "--out", unitDir, "--zsm", filepath.Join(bin, "zsm"), path)
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("zsmgen units: %w\n%s", err, out)
		}
		for _, u := range units {
			if u.kind == kindPlain {
				continue
			}
			for unit, body := range map[string]string{u.service: startLimits, u.socket: triggerLimits} {
				d := filepath.Join(unitDir, unit+".d")
				if err := os.MkdirAll(d, 0o755); err != nil {
					return nil, err
				}
				if err := os.WriteFile(filepath.Join(d, "bench.conf"), []byte(body), 0o644); err != nil {
					return nil, err
				}
			}
		}
	}
	return units, nil
}

// stopServices stops the services (their sockets keep listening) and
// checks that the sockets do.
func stopServices(ctx context.Context, services, sockets []string) error {
	if _, err := systemctl(ctx, append([]string{"stop", "--"}, services...)...); err != nil {
		return err
	}
	out, _ := systemctl(ctx, append([]string{"is-active", "--"}, sockets...)...)
	for i, st := range strings.Fields(out) {
		if st != "active" && i < len(sockets) {
			return fmt.Errorf("%s is %q after stopping the services", sockets[i], st)
		}
	}
	return nil
}

// coldTry times one request to u's stopped service, from connect to
// first byte.
func coldTry(ctx context.Context, u coldUnit) (time.Duration, error) {
	d, err := firstByte(u.addr, coldTimeout)
	if err != nil {
		status, _ := systemctl(ctx, "status", "--lines=30", "--", u.service)
		return 0, fmt.Errorf("cold start of %s (%s, delay %v): %w\n%s", u.service, u.kind, u.delay, err, status)
	}
	return d, nil
}

// systemctl runs `systemctl --user ARGS` (bounded) and returns its output.
func systemctl(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "systemctl", append([]string{"--user", "--no-pager"}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("systemctl --user %s: %w: %s", strings.Join(args, " "), err,
			strings.TrimSpace(stdout.String()+"\n"+stderr.String()))
	}
	return stdout.String(), nil
}
