package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/event"
	"github.com/zsm-dev/zsm/internal/proc"
)

// proxy is the mode for unmodified servers that bind their own port: one
// instance per backend port; the broker accepts, connects to a ready
// instance and splices bytes both ways in its relay.
type proxy struct {
	noChannels
	notify *notifySocket // the instances' NOTIFY_SOCKET
}

// backend is a proxy instance's port.
type backend struct {
	addr string        // the address it serves
	sa   unix.Sockaddr // resolved; nil fails each connect, and the probe says why
	port int
}

const (
	probeFirst = 2 * time.Millisecond  // a starting backend is tried this soon again,
	probeEvery = 50 * time.Millisecond // then less and less often, down to this
	maxRetries = 3                     // backends one connection is offered to
)

func (x *proxy) traits() traits {
	return traits{accepts: true, seesIdle: true, inPlace: true, readyByPort: true}
}

func (x *proxy) open(p *pool) error {
	if err := p.relay.listenAll(p.b.cfg.Sockets, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC); err != nil {
		return err
	}
	if p.site.Protocol == config.HTTP {
		p.relay.timeoutReply = failure(p.site, http.StatusGatewayTimeout,
			fmt.Sprintf("the backend did not answer within %s", p.site.Timeouts.FirstByte))
	}
	var err error
	x.notify, err = openNotify(p)
	return err
}

func (x *proxy) closeListeners(p *pool) { p.relay.closeListeners() }
func (x *proxy) close()                 { x.notify.Close() }

// capacity is backend.instances, one per port by default.
func (x *proxy) capacity(s *config.Site) int { return s.Backend.Running() }

// wantWorker says whether a backend port is free: no instance holds it,
// a retiring one included.
func (x *proxy) wantWorker(p *pool) bool {
	_, ok := x.freePort(p)
	return ok
}

// freeSlots counts what ready instances can take below their maxconn.
func (x *proxy) freeSlots(p *pool) int { return p.freeSlots() }

// takes: an instance is given at most its maxconn connections at once;
// the rest wait in the broker's queue.
func (x *proxy) takes(w *worker) bool { return w.held < w.slots }

func (x *proxy) spec(p *pool, w *worker) (proc.Spec, func(bool), error) {
	port, _ := x.freePort(p)
	w.be = &backend{port: port, addr: p.site.Backend.Addr(port)}
	w.be.sa, _ = resolve(w.be.addr)
	ps := fmt.Sprint(port)
	spec := proc.Spec{Dir: p.site.Directory, Argv: make([]string, len(p.site.Command))}
	for i, a := range p.site.Command {
		spec.Argv[i] = strings.ReplaceAll(a, "{port}", ps)
	}
	spec.Env = p.env("WATCHDOG_USEC", "PORT="+ps, "NOTIFY_SOCKET="+x.notify.addr)
	return spec, nil, nil
}

// started probes the instance's port until it answers.
func (x *proxy) started(p *pool, w *worker) {
	p.wg.Go(func() { x.probe(p, w) })
}

func (x *proxy) hand(p *pool, w *worker, c *pending) error {
	p.relay.connect(w, c)
	return nil
}

// stop stops routing to the instance and, unless it stops on its own,
// sends it the stop signal once its connections are done, or after
// timeouts.drain: kept-alive connections may never be done, and a byte
// stream shows no request boundary to wait for, so a server ends those
// on its (graceful) stop signal.
func (x *proxy) stop(p *pool, w *worker, own bool) time.Time {
	switch {
	case own:
		return time.Now().Add(p.site.Timeouts.Stop)
	case w.held > 0 && p.site.Timeouts.Drain > 0:
		return time.Now().Add(p.site.Timeouts.Drain)
	}
	p.signalStop(w)
	return time.Time{}
}

// drained sends the stop signal now to an instance waiting for its
// connections to end.
func (x *proxy) drained(p *pool, w *worker) {
	if !w.termAt.IsZero() {
		w.termAt = time.Time{}
		p.signalStop(w)
	}
}

func (x *proxy) exited(p *pool, w *worker) {}
func (x *proxy) overdue(w *worker) bool    { return true }
func (x *proxy) settle(p *pool)            {}
func (x *proxy) turn(p *pool)              {}

func (x *proxy) tick(p *pool, now time.Time) {}

// connectFailed takes back a connection whose backend w did not answer.
// A backend that refuses connections is taken out of rotation (and
// replaced) and c goes back to the head of the queue for another one: the
// connection is not lost.
func (x *proxy) connectFailed(p *pool, w *worker, c *pending, err error) {
	w.held--
	if errors.Is(err, syscall.ECONNREFUSED) && w.state == wReady {
		e := w.about(event.WorkerCrashed, slog.LevelWarn, "backend refuses connections; replacing it")
		e.Err = err.Error()
		e.Attrs = attrs("backend", w.be.addr)
		p.emit(e)
		p.drain(w, causeFault, "backend "+w.be.addr+" refuses connections")
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

// freePort returns a backend port no worker uses, draining ones included.
func (x *proxy) freePort(p *pool) (int, bool) {
	used := map[int]bool{}
	for _, w := range p.workers {
		used[w.be.port] = true
	}
	for _, port := range p.site.Backend.Ports {
		if !used[port] {
			return port, true
		}
	}
	return 0, false
}

// probe marks a proxy instance ready once a process of its own tree
// listens on its port (proc.ListenerIn): something else answering there,
// an orphan of an earlier instance or another program, does not make it
// ready, and is named once in the log. The first tries come quickly:
// while the only instance restarts, connections wait in the queue for it.
func (x *proxy) probe(p *pool, w *worker) {
	wait := probeFirst
	t := time.NewTimer(wait)
	defer t.Stop()
	warned := false
	for {
		if c, err := net.DialTimeout("tcp", w.be.addr, time.Second); err == nil {
			c.Close()
			l, ok, err := proc.ListenerIn(w.pid, w.be.port)
			if ok {
				p.post(func() { p.becameReady(w, maxConn(p.site, l)) })
				return
			}
			if !warned {
				warned = true
				p.post(func() { x.notOwned(p, w, err) })
			}
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

// maxConn is how many connections an instance listening with l is given
// at once: backend.maxconn, or else its own backlog, which its accept
// queue can always hold.
func maxConn(s *config.Site, l proc.Listener) int {
	if s.Backend.MaxConn > 0 {
		return s.Backend.MaxConn
	}
	if l.Backlog > 0 {
		return l.Backlog
	}
	return config.MaxQueue
}

// notOwned says, once per instance, that its port answers but not from
// the instance: it must bind the port or fail to start.
func (x *proxy) notOwned(p *pool, w *worker, err error) {
	holder := proc.PortHolder(w.be.port)
	if holder == "" {
		holder = "another process"
	}
	e := w.about(event.Notice, slog.LevelWarn, "instance not ready: its port is held by another process")
	e.Reason = fmt.Sprintf("port %d is held by %s, not by the instance", w.be.port, holder)
	if err != nil {
		e.Err = err.Error()
	}
	e.Attrs = attrs("backend", w.be.addr)
	p.emit(e)
}

// resolve turns a backend's host:port into an address for connect(2).
func resolve(hostport string) (unix.Sockaddr, error) {
	a, err := net.ResolveTCPAddr("tcp", hostport)
	if err != nil {
		return nil, err
	}
	if ip4 := a.IP.To4(); ip4 != nil {
		return &unix.SockaddrInet4{Port: a.Port, Addr: [4]byte(ip4)}, nil
	}
	sa := &unix.SockaddrInet6{Port: a.Port, Addr: [16]byte(a.IP.To16())}
	if a.Zone != "" { // a link-local address names its interface
		ifi, err := net.InterfaceByName(a.Zone)
		if err != nil {
			return nil, err
		}
		sa.ZoneId = uint32(ifi.Index)
	}
	return sa, nil
}
