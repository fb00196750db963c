package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zsm-dev/zsm/internal/event"
	"github.com/zsm-dev/zsm/internal/status"
)

// The control methods (Status, Reload, SetPool, Drain: the Controller
// that signals, the control socket, D-Bus and the status page drive) reach
// the pool's goroutine as typed requests; pool.handle carries each out in
// one place.

type requestKind uint8

const (
	reqReload  requestKind = iota // reload the configuration and the workers
	reqSetPool                    // resize the pool until the next reload
	reqDrain                      // stop every worker gracefully
	reqInspect                    // run fn on the pool: Workers, and tests
)

type request struct {
	kind         requestKind
	minIdle, max int         // reqSetPool
	fn           func(*pool) // reqInspect
	done         chan error  // buffered: the answer
}

// call hands r to the running pool, waking its loop, and waits for its
// answer. Before Run has started the pool, it waits for that.
func (b *Broker) call(ctx context.Context, r request) error {
	r.done = make(chan error, 1)
	select {
	case <-b.running:
	case <-b.stopped:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	p := b.pool
	select {
	case p.requests <- r:
		p.relay.kick()
	case <-p.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-b.stopped:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// inspect runs f on the running pool's goroutine and waits for it.
func (b *Broker) inspect(ctx context.Context, f func(*pool)) error {
	return b.call(ctx, request{kind: reqInspect, fn: f})
}

// handle carries out a request on the pool's goroutine.
func (p *pool) handle(r request) {
	switch r.kind {
	case reqReload:
		if p.stopping {
			r.done <- ErrStopped
			return
		}
		p.requestReload(r.done)
	case reqSetPool:
		r.done <- p.setPool(r.minIdle, r.max)
	case reqDrain:
		p.drainAll()
		r.done <- nil
	case reqInspect:
		r.fn(p)
		r.done <- nil
	}
}

// Reload re-reads the site's configuration (Config.Load) and replaces the
// workers with a new generation without refusing a connection: the new
// workers start beside the old ones, and only once they are ready are the
// old ones told to finish what they hold and exit. A reload asked for while
// one runs is queued; several queued ones are done once. A configuration
// that does not load leaves the running generation alone, and its error is
// returned. Reload returns when the reload is done or failed.
func (b *Broker) Reload(ctx context.Context) error {
	return b.call(ctx, request{kind: reqReload})
}

// SetPool changes the pool's min_idle and max until the next reload (which
// takes the configuration's again); the site's rules (config.Site.Validate)
// apply. Extra idle workers are stopped.
func (b *Broker) SetPool(ctx context.Context, minIdle, max int) error {
	return b.call(ctx, request{kind: reqSetPool, minIdle: minIdle, max: max})
}

// Drain stops every worker gracefully (they finish what they hold); the
// site goes cold and the next connection starts a new pool.
func (b *Broker) Drain(ctx context.Context) error {
	return b.call(ctx, request{kind: reqDrain})
}

// WorkerStats describes one worker, for status surfaces.
type WorkerStats struct {
	Pid        int
	State      string // "starting", "ready", "draining"
	Generation int
	Served     uint64    // connections it finished
	Held       int       // connections it holds now
	Busy       int       // of those, in a request now (as it reports, else Held)
	Requests   uint64    // requests it reported finished
	Started    time.Time // when it was started
	RSS        int64     // resident memory in bytes, 0 if unknown
	Status     string    // its own STATUS= text
	Retiring   string    // why it is being recycled, if it is
}

// Workers returns the site's workers as they are now.
func (b *Broker) Workers(ctx context.Context) ([]WorkerStats, error) {
	var ws []WorkerStats
	err := b.inspect(ctx, func(p *pool) {
		for _, w := range p.workers {
			ws = append(ws, WorkerStats{
				Pid: w.pid, State: w.state.String(), Generation: w.gen, Served: w.served, Held: w.held, Busy: w.busy(),
				Requests: w.requests,
				Started:  w.started, RSS: rss(w.pid), Status: w.status, Retiring: w.retiring,
			})
		}
	})
	return ws, err
}

// Status returns the site's state for the status surfaces. A broker that
// is not running has no workers.
func (b *Broker) Status(ctx context.Context) (status.Site, error) {
	st := b.Stats()
	site := b.cfg.Site
	out := status.Site{
		Site: site.Name, Mode: string(site.Mode), State: st.State, Generation: uint32(st.Generation),
		Accepted: st.Accepted, Served: st.Served, Active: uint32(st.Active), Queued: uint32(st.Queued),
		Shed: st.Shed, Failed: st.Failed, Restarts: st.Restarts, Breaker: st.Breaker, LastError: st.LastErr,
		Requests: st.Requests, RequestsPerSec: st.RequestsPerSec,
	}
	if st.ConfigErr != "" {
		out.LastError = "the configuration does not load (running a saved copy): " + st.ConfigErr
	}
	ws, err := b.Workers(ctx)
	if err != nil && !errors.Is(err, ErrStopped) {
		return out, err
	}
	for _, w := range ws {
		out.Workers = append(out.Workers, status.Worker{
			Pid: uint32(w.Pid), State: w.State, Served: w.Served,
			Started: uint64(w.Started.UnixMicro()), RSS: uint64(w.RSS),
			Held: uint32(w.Held), Busy: uint32(w.Busy), Requests: w.Requests,
		})
	}
	if err := b.addMetrics(ctx, &out); err != nil && !errors.Is(err, ErrStopped) {
		return out, err
	}
	return out, nil
}

// setPool resizes the pool (SetPool).
func (p *pool) setPool(minIdle, max int) error {
	s := *p.site
	s.Pool.MinIdle, s.Pool.Max = minIdle, max
	if err := s.Validate(); err != nil {
		return fmt.Errorf("broker: pool min_idle %d, max %d: %w", minIdle, max, err)
	}
	p.site = &s
	p.emit(event.Event{Kind: event.Notice, Message: "pool resized", Attrs: attrs("min_idle", minIdle, "max", max)})
	return nil
}

// drainAll stops every worker gracefully (Drain).
func (p *pool) drainAll() {
	p.emit(event.Event{Kind: event.Idle, Message: "draining every worker", Attrs: attrs("workers", len(p.workers))})
	for _, w := range p.workers {
		p.stopWorker(w, "drain")
	}
	p.warm = p.site.Eager || len(p.queue) > 0
}
