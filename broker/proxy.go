package broker

import (
	"errors"
	"net"
	"syscall"
	"time"
)

const (
	probeFirst  = 2 * time.Millisecond   // a starting backend is tried this soon again,
	probeEvery  = 50 * time.Millisecond  // then less and less often, down to this
	dialTimeout = 5 * time.Second        // a backend's connect, under load
	maxRetries  = 3                      // backends one connection is offered to
	proxyGrace  = 250 * time.Millisecond // a stopping backend's connections get this long before its SIGTERM
)

// probe marks a proxy backend ready once its port answers. The first
// tries come quickly: while the only backend restarts, connections wait in
// the queue for it.
func (p *pool) probe(w *worker) {
	wait := probeFirst
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		c, err := net.DialTimeout("tcp", w.backend, time.Second)
		if err == nil {
			c.Close()
			p.post(func() { p.becameReady(w, 1) })
			return
		}
		t.Reset(wait)
		wait = min(2*wait, probeEvery)
		select {
		case <-t.C:
		case <-p.done:
			return
		}
		ready := make(chan bool, 1)
		p.post(func() { ready <- w.state != wStarting })
		select {
		case r := <-ready:
			if r {
				return
			}
		case <-p.done:
			return
		}
	}
}

// connectFailed takes back a connection whose backend w did not answer.
// A backend that refuses connections is taken out of rotation (and
// replaced) and c goes back to the head of the queue for another one: the
// connection is not lost.
func (p *pool) connectFailed(w *worker, c *pending, err error) {
	w.held--
	if errors.Is(err, syscall.ECONNREFUSED) && w.state == wReady {
		p.log.Warn("backend refuses connections; replacing it", "event", EventWorkerCrashed, "pid", w.pid, "backend", w.backend, "err", err)
		p.setErr("backend " + w.backend + " refuses connections")
		p.stopWorker(w, "backend refuses connections")
		w.expected = false
	}
	c.retries++
	if c.retries > maxRetries {
		p.stats.Shed++
		p.fail(c, "no backend answered")
		return
	}
	p.queue = append([]*pending{c}, p.queue...)
	p.dispatch()
}
