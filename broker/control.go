package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/zsm-dev/zsm/internal/config"
)

// WorkerStats describes one worker, for status surfaces.
type WorkerStats struct {
	Pid        int
	State      string // "starting", "ready", "draining"
	Generation int
	Served     uint64    // connections it finished
	Held       int       // connections it holds now
	Started    time.Time // when it was started
	RSS        int64     // resident memory in bytes, 0 if unknown
	Status     string    // its own STATUS= text
	Retiring   string    // why it is being recycled, if it is
}

// call runs f on the running pool's goroutine and waits for it.
func (b *Broker) call(ctx context.Context, f func(*pool)) error {
	done := make(chan struct{})
	g := func(p *pool) {
		f(p)
		close(done)
	}
	select {
	case b.calls <- g:
	case <-b.stopped:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-b.stopped:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Workers returns the site's workers as they are now.
func (b *Broker) Workers(ctx context.Context) ([]WorkerStats, error) {
	var ws []WorkerStats
	err := b.call(ctx, func(p *pool) {
		for _, w := range p.workers {
			ws = append(ws, WorkerStats{
				Pid: w.pid, State: w.state.String(), Generation: w.gen, Served: w.served, Held: w.held,
				Started: w.started, RSS: rss(w.pid), Status: w.status, Retiring: w.retiring,
			})
		}
	})
	return ws, err
}

// SetPool changes the pool's min_idle and max until the next reload (which
// takes the configuration's again). Extra idle workers are stopped.
func (b *Broker) SetPool(ctx context.Context, minIdle, max int) error {
	if max < 1 || minIdle < 0 || minIdle > max {
		return fmt.Errorf("broker: pool min_idle %d, max %d: want 0 ≤ min_idle ≤ max, max ≥ 1", minIdle, max)
	}
	return b.call(ctx, func(p *pool) {
		s := *p.site
		s.Pool.MinIdle, s.Pool.Max = minIdle, max
		p.site = &s
		p.log.Info("pool resized", "event", EventNotice, "min_idle", minIdle, "max", max)
	})
}

// Drain stops every worker gracefully (they finish what they hold); the
// site goes cold and the next connection starts a new pool.
func (b *Broker) Drain(ctx context.Context) error {
	return b.call(ctx, func(p *pool) {
		p.log.Info("draining every worker", "event", EventIdle, "workers", len(p.workers))
		for _, w := range p.workers {
			p.stopWorker(w, "drain")
		}
		p.warm = p.site.Eager || len(p.queue) > 0
	})
}

// trim stops idle workers beyond the pool's max (after SetPool).
func (p *pool) trim() {
	if p.site.Mode == config.Proxy {
		return
	}
	for _, w := range p.workers {
		if p.live() <= p.site.Pool.Max {
			return
		}
		if w.state == wReady && w.held == 0 && w.retiring == "" {
			p.stopWorker(w, "above the pool's max")
		}
	}
}
