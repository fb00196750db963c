package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/zsm-dev/zsm/internal/busapi"
	"github.com/zsm-dev/zsm/internal/control"
	"github.com/zsm-dev/zsm/internal/journal"
	"github.com/zsm-dev/zsm/internal/status"
)

// A site is running when its broker answers on its control socket; it is
// a site of the user's as soon as its socket unit is enabled. `zsm status`
// asks both: the brokers for their live status, and systemd's user manager
// (over the session bus) for the socket units, so that sites whose broker
// exited or never started are listed too.

// sitesOf returns the user's sites, sorted by name, or the one named only
// (not ""): the live status of each running broker, and, when a systemd
// user manager answers on the session bus (then systemd is true), every
// other site whose socket unit is started, failed or enabled, as
// busapi.SocketUnit.Status says it; every site systemd knows gets its
// listen addresses. A manager that answers but fails is reported to warn,
// and the brokers' status returned alone, as without systemd.
func sitesOf(ctx context.Context, rtDir, only string, warn func(error)) (sites []status.Site, systemd bool, err error) {
	var live []status.Site
	if only == "" {
		if live, err = control.List(ctx, rtDir); err != nil {
			return nil, false, err
		}
	} else {
		st, err := control.NewClient(rtDir, only).Status(ctx)
		switch {
		case err == nil:
			live = []status.Site{st}
		case !errors.Is(err, control.ErrNotRunning):
			return nil, false, fmt.Errorf("site %s: %w", only, err)
		}
	}
	units, systemd, err := socketUnits(ctx, only)
	if err != nil {
		warn(err)
	}
	sites = merge(ctx, live, units)
	if only != "" && len(sites) == 0 {
		return nil, systemd, fmt.Errorf("site %q is not running (no broker answers on %s) and has no socket unit started or enabled",
			only, control.Path(rtDir, only))
	}
	return sites, systemd, nil
}

// socketUnits asks the user manager for the site sockets (only's, when
// not ""); systemd is false, with no error, when there is no session bus
// or no manager on it.
func socketUnits(ctx context.Context, only string) (units []busapi.SocketUnit, systemd bool, err error) {
	conn, err := busapi.Connect()
	if err != nil {
		return nil, false, nil
	}
	defer conn.Close()
	if only == "" {
		units, err = busapi.SocketUnits(ctx, conn)
	} else {
		var u busapi.SocketUnit
		var ok bool
		if u, ok, err = busapi.SiteSocket(ctx, conn, only); ok {
			units = []busapi.SocketUnit{u}
		}
	}
	if errors.Is(err, busapi.ErrNoManager) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("listing the sites' socket units: %w", err)
	}
	return units, true, nil
}

// merge adds to the brokers' live status what systemd knows: each running
// site's listen addresses, and the sites without a broker, with the
// journal's reason for a failed socket. Sites come out sorted by name.
func merge(ctx context.Context, live []status.Site, units []busapi.SocketUnit) []status.Site {
	byName := map[string]busapi.SocketUnit{}
	for _, u := range units {
		byName[u.Site] = u
	}
	sites := slices.Clone(live)
	for i, s := range sites {
		if u, ok := byName[s.Site]; ok {
			sites[i].Listen = u.Listen
			delete(byName, s.Site)
		}
	}
	for _, u := range units {
		if _, ok := byName[u.Site]; !ok {
			continue // its broker runs
		}
		var reason string
		if u.ActiveState == "failed" {
			reason = journal.UnitError(ctx, "zsm@"+u.Site+".socket", u.InvocationID)
		}
		sites = append(sites, u.Status(reason))
	}
	slices.SortStableFunc(sites, func(a, b status.Site) int { return cmp.Compare(a.Site, b.Site) })
	return sites
}
