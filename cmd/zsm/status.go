package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/zsm-dev/zsm/internal/busapi"
	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/config/hclconfig"
)

// status prints every site on the user's bus, or one in detail.
func status(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	serveAddr := fs.String("serve", "", "serve a status page of every site at this address (127.0.0.1:PORT or unix:PATH) instead")
	if err := fs.Parse(args); err != nil || fs.NArg() > 1 {
		fmt.Fprintln(os.Stderr, "usage: zsm status [--json] [SITE] | zsm status --serve ADDR")
		return errUsage
	}
	conn, err := busapi.Connect()
	if err != nil {
		return err
	}
	defer conn.Close()
	if *serveAddr != "" {
		return servePageForAll(conn, *serveAddr)
	}
	sites, err := busapi.List(conn)
	if err != nil {
		return err
	}
	slices.SortFunc(sites, func(a, b busapi.Status) int { return strings.Compare(a.Site, b.Site) })
	if fs.NArg() == 1 {
		i := slices.IndexFunc(sites, func(s busapi.Status) bool { return s.Site == fs.Arg(0) })
		if i < 0 {
			return fmt.Errorf("site %q is not running (no broker on the bus)", fs.Arg(0))
		}
		sites = sites[i : i+1]
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if sites == nil {
			sites = []busapi.Status{}
		}
		return enc.Encode(sites)
	}
	if fs.NArg() == 1 {
		return detail(stdout, sites[0], time.Now())
	}
	return table(stdout, sites)
}

// servePageForAll serves every site on the bus as a web page until SIGTERM
// or SIGINT.
func servePageForAll(conn *dbus.Conn, addr string) error {
	a, err := hclconfig.ParseAddress(addr)
	if err != nil {
		return err
	}
	if a.Net == config.NetTCP && !loopback(a.Host) {
		fmt.Fprintf(os.Stderr, "zsm: warning: %s is reachable from other hosts; the page shows commands and errors\n", addr)
	}
	rtDir, err := runtimeDir()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	return servePage(ctx, a, rtDir, func(context.Context) ([]busapi.Status, error) { return busapi.List(conn) }, log)
}

func loopback(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// table prints one line per site.
func table(w io.Writer, sites []busapi.Status) error {
	if len(sites) == 0 {
		_, err := fmt.Fprintln(w, "no site is running")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SITE\tMODE\tSTATE\tWORKERS\tACTIVE\tQUEUED\tSERVED\tSHED\tFAILED\tRESTARTS\tGEN")
	for _, s := range sites {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", s.Site, s.Mode, s.State, len(s.Workers),
			s.Active, s.Queued, s.Served, s.Shed, s.Failed, s.Restarts, s.Generation)
	}
	return tw.Flush()
}

// detail prints one site with its workers.
func detail(w io.Writer, s busapi.Status, now time.Time) error {
	fmt.Fprintf(w, "site:        %s (%s)\n", s.Site, s.Mode)
	fmt.Fprintf(w, "state:       %s, generation %d, breaker %s\n", s.State, s.Generation, s.Breaker)
	fmt.Fprintf(w, "connections: %d accepted, %d served, %d active, %d queued, %d shed, %d failed\n",
		s.Accepted, s.Served, s.Active, s.Queued, s.Shed, s.Failed)
	fmt.Fprintf(w, "restarts:    %d\n", s.Restarts)
	if s.LastError != "" {
		fmt.Fprintf(w, "last error:  %s\n", s.LastError)
	}
	if len(s.Workers) == 0 {
		_, err := fmt.Fprintln(w, "workers:     none")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nPID\tSTATE\tSERVED\tAGE\tRSS")
	for _, wk := range s.Workers {
		age := now.Sub(time.UnixMicro(int64(wk.Started))).Round(time.Second)
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%.1fM\n", wk.Pid, wk.State, wk.Served, age, float64(wk.RSS)/(1<<20))
	}
	return tw.Flush()
}

// drain asks a site's broker, over the bus, to stop its workers gracefully.
func drain(args []string) error {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: zsm drain SITE")
		return errUsage
	}
	conn, err := busapi.Connect()
	if err != nil {
		return err
	}
	defer conn.Close()
	return busapi.Call(conn, args[0], "Drain")
}
