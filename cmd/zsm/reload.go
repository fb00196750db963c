package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/zsm-dev/zsm/internal/control"
)

// reload asks a running broker to reload. With --wait it returns when the
// reload is done and fails when it failed, so that `systemctl --user
// reload` tells the truth.
func reload(args []string) error {
	fs := flag.NewFlagSet("reload", flag.ContinueOnError)
	site := fs.String("site", "", "the site to reload")
	wait := fs.Bool("wait", false, "wait until the new workers are ready, and fail if the reload fails")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *site == "" || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: zsm reload --site NAME [--wait]")
		return errUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	dir, err := runtimeDir()
	if err != nil {
		return err
	}
	c := control.NewClient(dir, *site)
	if *wait {
		err = c.Reload(ctx)
	} else {
		err = c.ReloadAsync(ctx)
	}
	if err != nil {
		return fmt.Errorf("reload %s: %w", *site, err)
	}
	return nil
}
