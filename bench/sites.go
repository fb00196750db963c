package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Many sites on one host: -sites sites in one file, in handoff mode with
// exit_when_idle, enabled in a real user manager as a user would (zsmgen
// units, daemon-reload, enable --now); what each step costs, what systemd
// holds for them, what runs while they are idle, and a sample of cold
// starts against plain units started the same way.

// sitesResult is what sitesInner measures.
type sitesResult struct {
	Sites        int
	Check        time.Duration // zsmgen check of the file
	Units        time.Duration // zsmgen units of the file
	DaemonReload time.Duration
	Enable       time.Duration // systemctl --user enable --now of every socket
	// ManagerRSS is the user manager's resident memory before the units
	// were written and once every socket listens, in bytes.
	ManagerRSS [2]int64
	// Idle is how many zsm processes run once every socket listens, before
	// any connection; AfterIdle, once the sampled sites have had their
	// idle_stop and every broker has exited (IdleWait after the last
	// request).
	Idle, AfterIdle int
	IdleWait        time.Duration
	// Cold and Plain are connect-to-first-byte times of the sampled sites'
	// first connections, and of as many plain units', taken in turn; Alone,
	// of a site alone in a file of its own, in the same manager, stopped
	// before each (systemd's own start of a unit grows with the units it
	// holds, so only a site beside them tells what the file's size costs).
	Cold, Plain, Alone []time.Duration
}

// sitesIdleStop is the sites' idle_stop: short, so that the sampled sites'
// brokers exit within the run.
const sitesIdleStop = time.Second

// sitesInner runs inside test/with-systemd and writes a sitesResult as
// JSON to -out.
func sitesInner(ctx context.Context, args []string, log io.Writer) error {
	fs := flag.NewFlagSet("sites", flag.ContinueOnError)
	bin := fs.String("bin", "", "directory of zsm, zsmgen and hello")
	dir := fs.String("dir", "", "a directory for the config")
	out := fs.String("out", "", "where to write the results")
	n := fs.Int("sites", 1000, "sites in the file")
	cold := fs.Int("cold", 10, "sites to cold start")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if os.Getenv("ZSM_HARNESS") != "1" {
		return errors.New("not inside test/with-systemd (ZSM_HARNESS is not 1)")
	}
	unitDir := filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "systemd", "user")
	if err := os.MkdirAll(unitDir, 0o755); err != nil {
		return err
	}
	r := sitesResult{Sites: *n}
	var err error
	if r.ManagerRSS[0], err = managerRSS(); err != nil {
		return err
	}
	addrs, path, err := writeManySites(*bin, *dir, *n)
	if err != nil {
		return err
	}
	plain, err := writePlainUnits(*bin, unitDir, *cold)
	if err != nil {
		return err
	}
	alone, alonePath, err := writeSites(*bin, filepath.Join(*dir, "alone.hcl"), 1, func(int) string { return aloneSite })
	if err != nil {
		return err
	}
	if err := generateUnits(ctx, &r, *bin, unitDir, path, alonePath); err != nil {
		return err
	}
	sockets := make([]string, *n)
	for i := range sockets {
		sockets[i] = "zsm@" + manySiteName(i) + ".socket"
	}
	others := []string{"zsm@" + aloneSite + ".socket"} // the sockets besides the many
	for _, u := range plain {
		others = append(others, u.socket)
	}
	defer func() {
		// The harness ends with this run; stop what it started anyway.
		ctx := context.Background()
		systemctl(ctx, append([]string{"disable", "--now", "--"}, append(sockets, others...)...)...)
		systemctl(ctx, "stop", "zsm@*.service")
	}()
	if r.DaemonReload, err = timed(ctx, "systemctl", "--user", "daemon-reload"); err != nil {
		return err
	}
	if r.Enable, err = timed(ctx, "systemctl", append([]string{"--user", "enable", "--now", "--"}, sockets...)...); err != nil {
		return err
	}
	if _, err := systemctl(ctx, append([]string{"start", "--"}, others...)...); err != nil {
		return err
	}
	if r.ManagerRSS[1], err = managerRSS(); err != nil {
		return err
	}
	r.Idle = countZSM()
	fmt.Fprintf(log, "  %d sites: check %s, units %s, daemon-reload %s, enable --now %s, %d zsm processes\n",
		*n, r.Check, r.Units, r.DaemonReload, r.Enable, r.Idle)
	if err := sampleColdStarts(ctx, &r, addrs, plain, alone[0], log); err != nil {
		return err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return os.WriteFile(*out, b, 0o600)
}

// generateUnits times `zsmgen check` and `zsmgen units` of the many
// sites' file into r, and writes the units of the site alone in its file.
func generateUnits(ctx context.Context, r *sitesResult, bin, unitDir, path, alonePath string) error {
	zsmgen, zsm := filepath.Join(bin, "zsmgen"), filepath.Join(bin, "zsm")
	var err error
	if r.Check, err = timed(ctx, zsmgen, "check", path); err != nil {
		return err
	}
	if r.Units, err = timed(ctx, zsmgen, "units", "--out", unitDir, "--zsm", zsm, path); err != nil {
		return err
	}
	_, err = timed(ctx, zsmgen, "units", "--out", unitDir, "--zsm", zsm, alonePath)
	return err
}

// sampleColdStarts gives sites spread over the file, the last one
// included, a first connection, each followed by the site alone in its
// file (stopped first) and a plain unit's first start; then it waits for
// the brokers to exit.
func sampleColdStarts(ctx context.Context, r *sitesResult, addrs []string, plain []coldUnit, alone string, log io.Writer) error {
	n := len(addrs)
	for i := range plain {
		site := (i+1)*n/len(plain) - 1
		d, err := firstByte(addrs[site], coldTimeout)
		if err != nil {
			return fmt.Errorf("cold start of site %s: %w", manySiteName(site), err)
		}
		r.Cold = append(r.Cold, d)
		if _, err := systemctl(ctx, "stop", "zsm@"+aloneSite+".service"); err != nil {
			return err
		}
		a, err := firstByte(alone, coldTimeout)
		if err != nil {
			return fmt.Errorf("cold start of site %s: %w", aloneSite, err)
		}
		r.Alone = append(r.Alone, a)
		p, err := firstByte(plain[i].addr, coldTimeout)
		if err != nil {
			return fmt.Errorf("cold start of %s: %w", plain[i].service, err)
		}
		r.Plain = append(r.Plain, p)
		fmt.Fprintf(log, "  site %s (%d of %d): %s; alone in its file: %s; plain: %s\n",
			manySiteName(site), site+1, n, formatDuration(d), formatDuration(a), formatDuration(p))
	}
	if _, err := systemctl(ctx, "stop", "zsm@"+aloneSite+".service"); err != nil {
		return err
	}
	last := time.Now()
	deadline := last.Add(sitesIdleStop + 30*time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for r.AfterIdle = countZSM(); r.AfterIdle > 0 && time.Now().Before(deadline); r.AfterIdle = countZSM() {
		<-tick.C
	}
	r.IdleWait = time.Since(last)
	return nil
}

func manySiteName(i int) string { return fmt.Sprintf("site%04d", i) }

// writeManySites writes n handoff sites with exit_when_idle, each on a
// port of its own, into one file, and returns their addresses and the
// file.
func writeManySites(bin, dir string, n int) ([]string, string, error) {
	return writeSites(bin, filepath.Join(dir, "sites.hcl"), n, manySiteName)
}

// writeSites writes n handoff sites with exit_when_idle, named by name,
// each on a port of its own, to the file path, and returns their
// addresses and path.
func writeSites(bin, path string, n int, name func(int) string) ([]string, string, error) {
	var cfg strings.Builder
	addrs := make([]string, 0, n)
	hello := filepath.Join(bin, "hello")
	pool := fmt.Sprintf("min_idle       = 1\n    max            = 1\n    idle_stop      = %q\n    exit_when_idle = true", sitesIdleStop)
	for len(addrs) < n {
		port, err := freePort() // never the same twice (internal/freeport)
		if err != nil {
			return nil, "", err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		writeSite(&cfg, name(len(addrs)), addr, targetHandoff, false, []string{hello}, nil, pool)
		addrs = append(addrs, addr)
	}
	return addrs, path, os.WriteFile(path, []byte(cfg.String()), 0o600)
}

// aloneSite is the site alone in its file, beside the many.
const aloneSite = "alone"

// writePlainUnits writes n plain socket units of hello (the cold-start
// baseline), each on a port of its own.
func writePlainUnits(bin, unitDir string, n int) ([]coldUnit, error) {
	var units []coldUnit
	for i := range n {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		name := fmt.Sprintf("zsmbench-sites-plain-%d", i)
		addr := "127.0.0.1:" + strconv.Itoa(port)
		files := map[string]string{
			name + ".socket":  fmt.Sprintf("[Socket]\nListenStream=%s\nBacklog=4096\n", addr),
			name + ".service": fmt.Sprintf("[Service]\nExecStart=%s -addr %s\n", filepath.Join(bin, "hello"), addr),
		}
		for f, body := range files {
			if err := os.WriteFile(filepath.Join(unitDir, f), []byte(body), 0o644); err != nil {
				return nil, err
			}
		}
		units = append(units, coldUnit{kind: kindPlain, addr: addr, service: name + ".service", socket: name + ".socket"})
	}
	return units, nil
}

// timed runs a command (bounded) and returns how long it took.
func timed(ctx context.Context, name string, args ...string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	t0 := time.Now()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		if len(args) > 8 {
			args = append(args[:8:8], "...")
		}
		return 0, fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return time.Since(t0), nil
}

// managerRSS is the resident memory of the user manager (the harness's
// `systemd --user`), in bytes.
func managerRSS() (int64, error) {
	for _, pid := range processes(func(comm string, cmdline []string) bool {
		return comm == "systemd" && slices.Contains(cmdline, "--user")
	}) {
		m, err := readMemory(pid)
		return m.RSS, err
	}
	return 0, errors.New("no systemd --user process")
}

// countZSM counts the zsm processes (brokers and shims).
func countZSM() int {
	return len(processes(func(comm string, _ []string) bool { return comm == "zsm" || comm == "zsm-exec" }))
}

// processes lists the pids whose comm and command line match.
func processes(match func(comm string, cmdline []string) bool) []int {
	all, _ := pids()
	var out []int
	for _, pid := range all {
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if match(strings.TrimSpace(string(comm)), strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")) {
			out = append(out, pid)
		}
	}
	return out
}

// manySites runs the many-sites scenario in test/with-systemd and reports
// it: a site's cold start should not grow with the sites sharing its file.
func (l *lab) manySites(ctx context.Context, sc *Scenario) {
	if l.opts.sites == 0 || !l.opts.wants(targetHandoff) {
		return
	}
	n := l.opts.sites
	sc.Notes = append(sc.Notes, fmt.Sprintf(
		"Many sites: %d handoff sites in one file (pool of one, idle_stop %v, exit_when_idle), through a real `systemd --user` "+
			"as a user enables them: `zsmgen check` and `zsmgen units` of the file, `systemctl --user daemon-reload`, "+
			"`systemctl --user enable --now` of every socket; the user manager's RSS before and after; zsm processes once "+
			"every socket listens; then %d sites spread over the file (the last one included) each get a first connection, "+
			"each followed by one to the same kind of site alone in a file of its own (enabled beside them, stopped before "+
			"each) and by a plain socket unit's (the same app taking LISTEN_FDS): connect to first byte, medians; "+
			"then zsm processes once the sampled sites' brokers have exited.", n, sitesIdleStop, l.opts.sitesCold))
	var r sitesResult
	limit := 10*time.Minute + time.Duration(l.opts.sitesCold)*2*coldTimeout
	args := []string{"-sites", strconv.Itoa(n), "-cold", strconv.Itoa(l.opts.sitesCold)}
	skipped, err := l.runInner(ctx, innerSites, args, limit, &r)
	if skipped != "" {
		sc.Notes = append(sc.Notes, "Many sites: skipped: "+skipped)
		return
	}
	if err != nil {
		sc.fail(fmt.Errorf("many sites: %w", err))
		return
	}
	base := id(scenarioStart, "sites")
	tab := sc.table(fmt.Sprintf("%d sites in one file, enabled in one user manager", n), "figure", "value", "target")
	for _, f := range []struct {
		id, name string
		d        time.Duration
	}{{"check_s", "zsmgen check", r.Check}, {"units_s", "zsmgen units", r.Units}, {"daemon_reload_s", "daemon-reload", r.DaemonReload},
		{"enable_s", "enable --now of every socket", r.Enable}} {
		sc.add(id(base, f.id), f.d.Seconds(), "s")
		tab.row(f.name, formatDuration(f.d), "")
	}
	grow := mib(r.ManagerRSS[1] - r.ManagerRSS[0])
	sc.add(id(base, "manager_rss_added_mib"), grow, "MiB")
	tab.row("systemd --user RSS", fmt.Sprintf("%.1f → %.1f MiB (+%.1f MiB)", mib(r.ManagerRSS[0]), mib(r.ManagerRSS[1]), grow), "")
	tab.row("zsm processes, every socket listening", strconv.Itoa(r.Idle),
		sc.check(id(base, "idle_processes"), float64(r.Idle), "", atMost(0, "0")))
	slices.Sort(r.Cold)
	slices.Sort(r.Plain)
	slices.Sort(r.Alone)
	cold, plain, single := medianDuration(r.Cold), medianDuration(r.Plain), medianDuration(r.Alone)
	sc.add(id(base, "cold_p50_ms"), ms(cold), "ms")
	sc.add(id(base, "plain_p50_ms"), ms(plain), "ms")
	tab.row("cold start of a site, p50 (min, max)", fmt.Sprintf("%s (%s, %s)", formatDuration(cold), formatDuration(r.Cold[0]), formatDuration(r.Cold[len(r.Cold)-1])), "")
	tab.row("plain systemd unit, p50", formatDuration(plain), "")
	tab.row("cold start ÷ plain", fmt.Sprintf("%.2f×", float64(cold)/float64(plain)),
		sc.check(id(base, "cold_vs_plain"), float64(cold)/float64(plain), "x", atMost(coldRatioMax, "%.1f×", coldRatioMax)))
	sc.add(id(base, "alone_p50_ms"), ms(single), "ms")
	tab.row("a site alone in its file, same manager, p50", formatDuration(single), "")
	tab.row("cold start ÷ a site alone in its file", fmt.Sprintf("%.2f×", float64(cold)/float64(single)),
		sc.check(id(base, "cold_vs_single"), float64(cold)/float64(single), "x", atMost(sitesGrowthMax, "%.1f×", sitesGrowthMax)))
	tab.row(fmt.Sprintf("zsm processes %s after the last request", formatDuration(r.IdleWait)), strconv.Itoa(r.AfterIdle),
		sc.check(id(base, "after_idle_processes"), float64(r.AfterIdle), "", atMost(0, "0")))
}
