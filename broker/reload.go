package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/event"
)

// reload is a reload under way.
type reload struct {
	gen     int
	old     *config.Site
	waiters []chan error
	want    int // new workers wanted (handoff, listen)
	started time.Time
}

// requestReload starts a reload, or queues it behind the one under way.
func (p *pool) requestReload(res chan error) {
	if p.reloading != nil || p.loading {
		p.queuedReloads = append(p.queuedReloads, res)
		return
	}
	p.loadForReload([]chan error{res})
}

// loadForReload reads the configuration (Config.Load) off the pool's
// goroutine, which goes on taking and handing out connections meanwhile:
// reading and parsing a file, a large one above all, and saving its copy
// would otherwise stall every connection for as long. The reload begins
// when the load is done.
func (p *pool) loadForReload(waiters []chan error) {
	load := p.b.cfg.Load
	if load == nil {
		p.beginReload(waiters, p.site, nil)
		return
	}
	p.loading = true
	p.wg.Go(func() {
		site, err := load()
		p.post(func() {
			p.loading = false
			if p.stopping {
				p.answer(waiters, ErrStopped)
				return
			}
			p.beginReload(waiters, site, err)
		})
	})
}

// beginReload starts a reload to site, the configuration just loaded, or
// fails it with the load's error.
func (p *pool) beginReload(waiters []chan error, site *config.Site, loadErr error) {
	err := loadErr
	if err == nil {
		err = compatible(p.site, site)
	}
	if err != nil {
		p.emit(event.Event{Kind: event.ReloadFailed, Level: slog.LevelError, Message: "reload failed: keeping the running configuration", Err: err.Error()})
		p.answer(waiters, fmt.Errorf("reload: %w", err))
		p.nextReload()
		return
	}
	if p.b.cfg.Load != nil {
		p.stats.ConfigErr = "" // the file loads again
	}
	p.sdNotify("RELOADING=1")
	p.emit(event.Event{Kind: event.Reloading, Message: "reloading", Attrs: attrs("generation", p.gen+1, "workers", p.live())})
	old := p.site
	p.site = site
	p.gen++
	if p.live() == 0 {
		// Cold: nothing runs, the new configuration is all there is to take.
		p.emit(event.Event{Kind: event.Reloaded, Message: "reloaded", Attrs: attrs("generation", p.gen)})
		p.answer(waiters, nil)
		p.sdNotify("READY=1")
		p.nextReload()
		return
	}
	r := &reload{gen: p.gen, old: old, waiters: waiters, started: time.Now()}
	if !p.traits.inPlace {
		r.want = min(max(p.live(), site.Pool.MinIdle, 1), site.Pool.Max)
	}
	p.reloading = r
	p.reloadStep(time.Now())
}

// compatible says whether a site can change from a to b by reloading:
// the sockets and the mode stay; everything else may change.
func compatible(a, b *config.Site) error {
	if !slices.Equal(a.Listen, b.Listen) {
		return errors.New("the listen addresses changed: run zsmgen units, then restart the site's socket")
	}
	if a.Mode != b.Mode {
		return fmt.Errorf("the mode changed from %s to %s: restart the site", a.Mode, b.Mode)
	}
	return nil
}

// reloadStep moves the reload under way along; it runs after every event.
func (p *pool) reloadStep(now time.Time) {
	r := p.reloading
	if r == nil {
		return
	}
	var old, fresh, ready int
	for _, w := range p.workers {
		switch {
		case w.gen < r.gen && w.state != wDraining:
			old++
		case w.gen == r.gen && w.state != wDraining:
			fresh++
			if w.state == wReady {
				ready++
			}
		}
	}
	if p.failedGen == r.gen {
		p.abortReload(p.stats.LastErr)
		return
	}
	if p.traits.inPlace {
		p.rollInPlace(r, now)
		return
	}
	for ; fresh < r.want && p.canSpawn(now); fresh++ {
		if !p.spawn(now) {
			break
		}
	}
	if ready >= r.want {
		for _, w := range p.workers {
			if w.gen < r.gen {
				p.stopWorker(w, "reload: replaced by generation "+fmt.Sprint(r.gen))
			}
		}
		p.finishReload(nil)
	}
}

// rollInPlace replaces workers that each hold a place of their own (proxy
// instances: an unmodified server holds its port until it exits). Where
// places are free (spare backend ports) new workers start there first,
// and old ones retire as new ones become ready, so the site keeps its
// capacity; where none is, an old one retires first and its replacement
// takes its place once it has gone, while the others (or the broker's
// queue, when it is the only one) carry the traffic.
func (p *pool) rollInPlace(r *reload, now time.Time) {
	var old []*worker
	fresh, ready, draining := 0, 0, false
	for _, w := range p.workers {
		switch {
		case w.gen < r.gen && w.state != wDraining:
			old = append(old, w)
		case w.gen < r.gen:
			draining = true // its place is not free yet
		case w.state != wDraining:
			fresh++
			if w.state == wReady {
				ready++
			}
		}
	}
	capacity := p.m.capacity(p.site)
	why := fmt.Sprintf("reload: replaced by generation %d", r.gen)
	for ; len(old) > 0 && len(old)+ready > capacity; old = old[1:] {
		p.stopWorker(old[0], why) // new ones are ready beside them
	}
	for ; fresh < capacity && p.m.wantWorker(p) && p.canSpawn(now); fresh++ {
		if !p.spawn(now) {
			break
		}
	}
	switch {
	case len(old) == 0 && ready >= capacity:
		p.finishReload(nil)
	case len(old) > 0 && fresh == ready && len(old)+fresh >= capacity && !draining:
		p.stopWorker(old[0], why) // no free place: in place
	}
}

// abortReload gives up on a new generation that does not start: its workers
// are stopped and the old ones keep serving under the old configuration.
func (p *pool) abortReload(reason string) {
	r := p.reloading
	for _, w := range p.workers {
		if w.gen == r.gen {
			p.stopWorker(w, "reload failed")
		}
	}
	p.site = r.old
	p.emit(event.Event{Kind: event.ReloadFailed, Level: slog.LevelError, Message: "reload failed: the new workers did not start; keeping the running ones", Err: reason})
	p.finishReload(fmt.Errorf("reload: the new workers did not start: %s", reason))
}

func (p *pool) finishReload(err error) {
	r := p.reloading
	p.reloading = nil
	if err == nil {
		p.emit(event.Event{Kind: event.Reloaded, Message: "reloaded", Attrs: attrs("generation", r.gen, "took", time.Since(r.started).Round(time.Millisecond))})
	}
	p.answer(r.waiters, err)
	p.sdNotify("READY=1")
	p.nextReload()
}

// nextReload starts the reloads queued behind the one that ended, as one.
func (p *pool) nextReload() {
	if q := p.queuedReloads; len(q) > 0 && !p.stopping {
		p.queuedReloads = nil
		p.loadForReload(q)
	}
}

// answer replies to Reload's callers, after publishing the state they will
// look at next.
func (p *pool) answer(waiters []chan error, err error) {
	p.publish()
	for _, w := range waiters {
		w <- err // buffered
	}
}
