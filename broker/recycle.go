package broker

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/event"
)

// Recycling replaces workers that served max_requests connections, grew
// past max_memory or lived past max_age (seed 003: leaky C/C++ workers),
// and workers that stopped sending WATCHDOG=1 (timeouts.watchdog).
// The replacement is ready before the old worker stops taking
// connections, and at most maxRecycling workers are replaced at once.

// memEvery is how often workers' memory is read.
const memEvery = time.Second

// maxRecycling is how many workers of the site may be replaced at once.
func (p *pool) maxRecycling() int {
	return max(1, p.m.capacity(p.site)/4)
}

// ageLimit is a worker's max_age less up to 10% jitter, so that workers
// started together do not all retire together.
func ageLimit(maxAge time.Duration) time.Duration {
	if maxAge <= 0 {
		return 0
	}
	return maxAge - time.Duration(rand.Int64N(int64(maxAge)/10+1))
}

// dueReason says why w should be replaced now, or "".
func dueReason(site *config.Site, w *worker, now time.Time) string {
	pool := site.Pool
	switch {
	case site.Timeouts.Watchdog > 0 && now.Sub(w.lastPing) > site.Timeouts.Watchdog:
		return fmt.Sprintf("watchdog: no WATCHDOG=1 for %s", now.Sub(w.lastPing).Round(time.Millisecond))
	case pool.MaxRequests > 0 && w.served >= uint64(pool.MaxRequests):
		return fmt.Sprintf("served max_requests (%d)", pool.MaxRequests)
	case pool.MaxMemory > 0 && w.rss > int64(pool.MaxMemory):
		return fmt.Sprintf("resident memory %s above max_memory (%s)", config.Size(w.rss), pool.MaxMemory)
	case w.maxAge > 0 && now.Sub(w.started) >= w.maxAge:
		return fmt.Sprintf("older than max_age (%s)", pool.MaxAge)
	}
	return ""
}

// recycle retires workers that are due and starts their replacements.
func (p *pool) recycle(now time.Time) {
	// Being replaced: retiring workers not gone yet, and workers still
	// starting (a replacement, or a proxy backend coming back).
	busy := 0
	for _, w := range p.workers {
		if w.retiring != "" || w.state == wStarting {
			busy++
		}
	}
	for _, w := range p.workers {
		if w.state != wReady || w.retiring != "" {
			continue
		}
		reason := dueReason(p.site, w, now)
		if reason == "" {
			continue
		}
		if busy >= p.maxRecycling() {
			break // the others wait their turn; the loop below still finishes what runs
		}
		busy++
		w.retiring = reason
		e := w.about(event.Recycling, slog.LevelInfo, "recycling worker")
		e.Reason = reason
		p.emit(e)
		if p.traits.inPlace {
			// Its replacement takes its place (a backend port): stop
			// routing to it, and start the replacement once it has gone.
			p.stopWorker(w, "recycled: "+reason)
			continue
		}
		if p.canSpawn(now) && p.spawn(now) {
			w.replacement = p.workers[len(p.workers)-1]
		}
	}
	// Retiring workers whose replacement is ready stop; those whose
	// replacement failed get another.
	for _, w := range p.workers {
		if w.retiring == "" || w.state != wReady {
			continue
		}
		switch r := w.replacement; {
		case r != nil && r.state == wReady:
			p.stopWorker(w, "recycled: "+w.retiring)
		case (r == nil || !p.alive(r)) && p.canSpawn(now):
			w.replacement = nil
			if p.spawn(now) {
				w.replacement = p.workers[len(p.workers)-1]
			}
		}
	}
}

// readMemory refreshes every worker's resident memory.
func (p *pool) readMemory(now time.Time) {
	if p.site.Pool.MaxMemory == 0 || now.Sub(p.memRead) < memEvery {
		return
	}
	p.memRead = now
	for _, w := range p.workers {
		w.rss = rss(w.pid)
	}
}

// rss returns a process's resident memory in bytes (0 if unknown).
func rss(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}
