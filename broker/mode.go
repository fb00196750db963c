package broker

import (
	"fmt"
	"time"

	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/proc"
)

// mode is how a site hands work to its workers (DESIGN.md): handoff,
// listen or proxy. The pool's core calls it wherever the modes differ and
// never asks which mode it runs; newMode picks one when the pool is built.
type mode interface {
	// open starts taking connections on the site's sockets.
	open(p *pool) error
	// closeListeners stops taking connections: those not accepted yet
	// wait in the kernel queue for the next broker.
	closeListeners(p *pool)
	// close releases what open made, once every worker is told to stop.
	close()

	// capacity is how many workers s runs at most.
	capacity(s *config.Site) int
	// wantWorker says whether the pool, below capacity, should start one
	// more worker now.
	wantWorker(p *pool) bool
	// freeSlots counts the connections ready workers can take now.
	freeSlots(p *pool) int
	// spec says how to start w. done, when not nil, runs once the
	// process has started or failed to.
	spec(p *pool, w *worker) (spec proc.Spec, done func(started bool), err error)
	// started watches w once it runs: its channel, its port.
	started(p *pool, w *worker)
	// settle reads what workers reported and the broker has not read
	// yet, before a dispatch decides.
	settle(p *pool)
	// takes says whether ready w takes one more connection now.
	takes(w *worker) bool
	// hand gives c to w. On an error c is still queued, and w may have
	// been taken out of rotation.
	hand(p *pool, w *worker, c *pending) error
	// stop tells w, now draining, to finish what it holds and exit, and
	// says when it should get the stop signal if it has not exited by then (zero:
	// it has had it). own says it stops on its own (it said STOPPING=1).
	stop(p *pool, w *worker, own bool) (termAt time.Time)
	// drained is told that w, draining, has finished every connection.
	drained(p *pool, w *worker)
	// exited releases what the mode held for w.
	exited(p *pool, w *worker)
	// overdue says whether w, starting for longer than the start
	// timeout, is late.
	overdue(w *worker) bool
	// tick runs the mode's timers.
	tick(p *pool, now time.Time)
	// turn runs at the end of every turn of the pool's loop.
	turn(p *pool)

	// readChannel reads the reports waiting on w's channel (handoff);
	// the relay calls it.
	readChannel(p *pool, w *worker)
	// connectFailed takes back c, whose connect to w's backend failed
	// (proxy); the relay reports it.
	connectFailed(p *pool, w *worker, c *pending, err error)

	traits() traits
}

// noChannels is embedded by modes whose workers have no channel.
type noChannels struct{}

func (noChannels) readChannel(*pool, *worker) {}

// noBackends is embedded by modes that connect to no backend.
type noBackends struct{}

func (noBackends) connectFailed(*pool, *worker, *pending, error) {}

// traits are what the pool's policies need to know of a mode.
type traits struct {
	// accepts: the broker accepts connections, and can serve those a
	// previous broker stored; otherwise workers accept from the kernel
	// queue themselves.
	accepts bool
	// shrinks: the pool follows demand, so spares idle for a while stop.
	shrinks bool
	// seesIdle: the broker sees every connection end, so it knows when
	// the site is idle (idle_stop).
	seesIdle bool
	// inPlace: a worker's replacement takes its place (a backend port),
	// so it starts once its predecessor is gone, one at a time, rather
	// than beside it.
	inPlace bool
	// readyByPort: a worker is ready when it listens on its port
	// (proxy.probe), whatever it says on NOTIFY_SOCKET.
	readyByPort bool
}

// newMode returns the site's mode.
func newMode(s *config.Site) (mode, error) {
	switch s.Mode {
	case config.Handoff:
		return newHandoff(), nil
	case config.Listen:
		return &listen{}, nil
	case config.Proxy:
		return &proxy{}, nil
	}
	return nil, fmt.Errorf("broker: unknown mode %q", s.Mode)
}
