package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/sockets"
	"github.com/zsm-dev/zsm/internal/status"
	"github.com/zsm-dev/zsm/internal/statuspage"
)

// servePage serves the status page for source on addr until ctx is done,
// telling notice where, with graphs of the last 15 minutes from a sample
// of source every 10 s. A unix socket is created mode 0600 and removed
// afterwards.
func servePage(ctx context.Context, addr config.Address, runtimeDir string, source func(context.Context) ([]status.Site, error),
	notice func(slog.Level, string, ...slog.Attr)) error {
	set, err := sockets.Bind(&config.Site{Name: "status", Listen: []config.Address{addr}}, runtimeDir)
	if err != nil {
		return fmt.Errorf("status page: %w", err)
	}
	defer set.Close()
	l, err := net.FileListener(set.Sockets[0].File)
	if err != nil {
		return fmt.Errorf("status page: %w", err)
	}
	history := statuspage.NewHistory()
	var wg sync.WaitGroup
	defer wg.Wait()
	hctx, stopHistory := context.WithCancel(ctx)
	defer stopHistory()
	wg.Go(func() { history.Run(hctx, source, statuspage.HistoryInterval) })
	srv := &http.Server{Handler: statuspage.HandlerWithHistory(source, history), ReadHeaderTimeout: 10 * time.Second}
	stop := context.AfterFunc(ctx, func() {
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	})
	defer stop()
	notice(slog.LevelInfo, "status page", slog.String("listen", addr.String()))
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("status page: %w", err)
	}
	return nil
}
