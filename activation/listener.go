package activation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Mode says where a [Listener]'s connections come from.
type Mode int

const (
	// ModeStandalone: Listen bound the address itself.
	ModeStandalone Mode = iota
	// ModeSystemd: listening sockets passed by systemd socket activation
	// (or any manager speaking LISTEN_FDS, such as zsm's listen mode).
	ModeSystemd
	// ModeHandoff: connections handed over by the zsm broker.
	ModeHandoff
)

func (m Mode) String() string {
	switch m {
	case ModeStandalone:
		return "standalone"
	case ModeSystemd:
		return "systemd"
	case ModeHandoff:
		return "handoff"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// DefaultSlots is the SLOTS a Listener announces in handoff mode unless
// [Slots] says otherwise: how many connections, busy or idle keep-alive, the
// process holds at once.
const DefaultSlots = 64

// An Option configures [Listen].
type Option func(*options)

type options struct {
	slots      int
	names      []string
	signals    []os.Signal
	signalsSet bool
	config     *net.ListenConfig
}

// Slots sets how many connections the process holds at once in handoff
// mode, busy or idle kept-alive (the SLOTS it announces; 1..[MaxSlots]): a
// kept-alive connection holds its slot until it is closed, so a server
// that keeps connections alive needs at least as many slots as the
// kept-alive connections it expects (PROTOCOL.md, section 4). The broker
// never hands over more; the Listener does not enforce it. Ignored in the
// other modes.
func Slots(n int) Option {
	return func(o *options) { o.slots = n }
}

// Names restricts socket activation to the passed descriptors whose
// LISTEN_FDNAMES entry (systemd's FileDescriptorName=) is one of names; each
// of them must be a listening stream socket. Without it every passed
// listening stream socket is used. Ignored in the other modes.
func Names(names ...string) Option {
	return func(o *options) { o.names = names }
}

// Bind sets how the process binds its own socket when it is neither under
// zsm nor socket-activated (standalone): for example a [net.ListenConfig]
// whose Control sets SO_REUSEPORT, so that several processes share a
// port. Ignored in the other modes.
func Bind(lc *net.ListenConfig) Option {
	return func(o *options) { o.config = lc }
}

// StopSignals sets the signals that make the Listener stop gracefully, as
// [Listener.Stop] does; by default SIGTERM, the signal systemd stops with,
// and an operator's way to stop a zsm worker. StopSignals() with no signal
// leaves signal handling to the caller. After the first such signal, or
// once the Listener is closed, the Listener stops catching them, so one
// that comes then has its default effect (for SIGTERM: the process ends at
// once). In handoff mode that is what the broker's SIGTERM means: it comes
// only after the channel ended and the site's stop timeout passed
// (PROTOCOL.md, section 3).
func StopSignals(sigs ...os.Signal) Option {
	return func(o *options) { o.signals, o.signalsSet = sigs, true }
}

// A Listener is a [net.Listener] fed by the zsm broker, by systemd socket
// activation, or by its own socket; see [Listen]. Its methods are safe for
// concurrent use.
//
// Stopping gracefully: when Stop is called, a stop signal arrives, or (in
// handoff mode) the broker ends the channel, the Listener first hands out
// every connection already meant for this process, then Accept returns an
// error wrapping [net.ErrClosed] and Stopping is closed. The application then
// finishes the connections it holds and exits. With an [net/http.Server]:
//
//	err := srv.Serve(ln) // returns once ln stops
//	if errors.Is(err, net.ErrClosed) {
//		err = srv.Shutdown(ctx) // finish in-flight requests
//	}
type Listener struct {
	mode   Mode
	addr   net.Addr
	slots  int
	notify *notifier // non-handoff modes; nil-safe

	// Handoff mode.
	ch *net.UnixConn

	// Other modes. With more than one listener, one goroutine per listener
	// accepts into conns, which is closed when they have all returned.
	lns   []net.Listener
	conns chan accepted

	readyOnce    sync.Once
	stopOnce     sync.Once
	stopping     chan struct{} // closed by markStopping
	stoppingOnce sync.Once
	done         chan struct{} // closed by Close
	closeOnce    sync.Once
	closeErr     error
	sigc         chan os.Signal
	wg           sync.WaitGroup // goroutines started by Listen

	mu sync.Mutex
	// mu guards the fields below.
	closed   bool  // Close was called
	stopped  bool  // handoff: Stop was called (STOPPING=1 sent)
	eof      bool  // handoff: the broker ended the channel
	fatal    error // handoff: the broker broke the protocol
	held     int   // handoff: Conns handed out and not yet closed
	chClosed bool  // handoff: ch is closed
}

type accepted struct {
	c   net.Conn
	err error
}

// Listen returns the process's listener, chosen by its environment:
//
//   - ZSM_CHANNEL_FD set (zsm handoff mode): Accept returns the connections
//     the broker hands over, as [*Conn]. READY=1 with SLOTS is sent to the
//     broker on the first Accept; closing a Conn sends DONE=1.
//   - LISTEN_PID equal to this process's pid and LISTEN_FDS (systemd socket
//     activation): Accept returns connections from the passed listening
//     stream sockets, all of them merged into this one Listener unless
//     [Names] picks some; Addr is the first one's address. READY=1 is sent
//     to $NOTIFY_SOCKET, if set, on the first Accept.
//   - otherwise (standalone): Listen binds network and address with
//     [net.Listen]; READY=1 goes to $NOTIFY_SOCKET as above.
//
// In handoff mode Listen fails if ZSM_PROTOCOL is not "1" or the channel is
// not a unix SOCK_SEQPACKET socket; the process should then exit non-zero
// (PROTOCOL.md, section 1). network and address are used only standalone.
// Listen consumes the environment it uses, so processes it starts do not
// inherit it and only the first call sees it: it always unsets
// ZSM_CHANNEL_FD, ZSM_PROTOCOL and WATCHDOG_PID; in handoff mode also
// ZSM_WATCHDOG_USEC; otherwise also WATCHDOG_USEC, LISTEN_PID, LISTEN_FDS,
// LISTEN_FDNAMES and LISTEN_PIDFDID. It sets close-on-exec on the
// descriptors it is passed.
//
// Descriptors: the Listener owns the channel or the sockets it uses and
// closes them in Close. Passed descriptors it does not use (not listening
// stream sockets, or not named by [Names]) stay open for the application.
func Listen(network, address string, opts ...Option) (*Listener, error) {
	return listen(Env{}, network, address, opts...)
}

func listen(env Env, network, address string, opts ...Option) (*Listener, error) {
	o := options{slots: DefaultSlots, signals: []os.Signal{syscall.SIGTERM}}
	for _, opt := range opts {
		opt(&o)
	}
	if o.slots < 1 || o.slots > MaxSlots {
		return nil, fmt.Errorf("listen: slots %d out of 1..%d", o.slots, MaxSlots)
	}
	l := &Listener{
		slots:    o.slots,
		stopping: make(chan struct{}),
		done:     make(chan struct{}),
	}

	chText, handoff := env.take(EnvChannelFD)
	version, _ := env.take(EnvProtocol)
	switch {
	case handoff:
		if version != "1" {
			return nil, fmt.Errorf("listen: %s=%q: this worker speaks zsm protocol version %d", EnvProtocol, version, Version)
		}
		ch, err := openChannel(chText)
		if err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
		l.mode, l.ch, l.addr = ModeHandoff, ch, channelAddr{}
	default:
		names, activated, err := ListenFDs(env)
		if err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
		if activated {
			l.mode = ModeSystemd
			if l.lns, err = listenFiles(names, o.names); err != nil {
				return nil, fmt.Errorf("listen: %w", err)
			}
		} else {
			l.mode = ModeStandalone
			lc := o.config
			if lc == nil {
				lc = &net.ListenConfig{}
			}
			ln, err := lc.Listen(context.Background(), network, address)
			if err != nil {
				return nil, fmt.Errorf("listen: %w", err)
			}
			l.lns = []net.Listener{ln}
		}
		l.addr = l.lns[0].Addr()
		l.notify = newNotifier(env)
		if len(l.lns) > 1 {
			l.startMerge()
		}
	}

	if iv := watchdogInterval(env, l.mode); iv > 0 {
		l.wg.Go(func() { l.watchdog(iv) })
	}

	if sig, ok := stackSignal(env); ok {
		l.wg.Go(func() { l.dumpStacks(sig) })
	}

	if len(o.signals) > 0 {
		l.sigc = make(chan os.Signal, 1)
		signal.Notify(l.sigc, o.signals...)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			select {
			case <-l.sigc:
				signal.Stop(l.sigc)
				l.Stop()
			case <-l.done:
			}
		}()
	}
	return l, nil
}

// startMerge starts one accepting goroutine per listener. Called before
// the Listener is shared.
func (l *Listener) startMerge() {
	l.conns = make(chan accepted)
	var accepting sync.WaitGroup
	for _, ln := range l.lns {
		accepting.Add(1)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer accepting.Done()
			for {
				c, err := ln.Accept()
				if errors.Is(err, net.ErrClosed) {
					return
				}
				select {
				case l.conns <- accepted{c, err}:
				case <-l.done:
					if c != nil {
						c.Close()
					}
					return
				}
				var temp interface{ Temporary() bool }
				if err != nil && !(errors.As(err, &temp) && temp.Temporary()) {
					return
				}
			}
		}()
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		accepting.Wait()
		close(l.conns)
	}()
}

// Mode says where the Listener's connections come from.
func (l *Listener) Mode() Mode { return l.mode }

// Addr returns the listening address: in handoff mode a placeholder of
// network "zsm" (the broker owns the real sockets; [Conn.LocalAddr] is the
// real one); with several passed sockets, the first one's.
func (l *Listener) Addr() net.Addr { return l.addr }

// Stopping returns a channel closed when the Listener stops handing out
// connections: after [Listener.Stop], a stop signal, the broker ending the
// channel (handoff mode) or Close; in handoff mode only once every
// connection the broker sent has been accepted. The application should then
// finish what it holds and exit.
func (l *Listener) Stopping() <-chan struct{} { return l.stopping }

// Stop asks the Listener to stop gracefully; it does not wait. In handoff
// mode it sends STOPPING=1 to the broker, which sends nothing more and ends
// the channel; Accept returns the connections already in flight, then fails
// with [net.ErrClosed] and Stopping is closed. In the other modes it closes
// the listening sockets (under socket activation systemd keeps its own
// copies, so connections not yet accepted wait for the next process), sends
// STOPPING=1 to $NOTIFY_SOCKET if set, and closes Stopping. Calls after the
// first do nothing.
func (l *Listener) Stop() {
	l.stopOnce.Do(func() {
		if l.mode == ModeHandoff {
			l.mu.Lock()
			skip := l.eof || l.closed
			l.stopped = true
			l.mu.Unlock()
			if !skip {
				l.report(Report{Stopping: true}) // if it fails, the broker is gone: EOF follows
			}
			return
		}
		l.notify.notify("STOPPING=1")
		for _, ln := range l.lns {
			ln.Close()
		}
		l.markStopping()
	})
}

// Status sets the process's one-line status: STATUS= on the channel in
// handoff mode, to $NOTIFY_SOCKET otherwise (nothing if unset).
func (l *Listener) Status(text string) error {
	if l.mode == ModeHandoff {
		return l.report(Report{HasStatus: true, Status: text})
	}
	return l.notify.notify("STATUS=" + text)
}

// Accept waits for and returns the next connection. In handoff mode it is a
// [*Conn] whose Close tells the broker; otherwise the listening socket's own
// type (*net.TCPConn, *net.UnixConn). Once the Listener stops or is closed,
// Accept fails with an error wrapping [net.ErrClosed]. In handoff mode, if
// the broker breaks the protocol, Accept fails with an error wrapping
// [ErrProtocol], now and on every later call.
//
// Descriptors: the caller owns the returned conn and must Close it.
func (l *Listener) Accept() (net.Conn, error) {
	l.readyOnce.Do(func() {
		if l.mode == ModeHandoff {
			l.mu.Lock()
			late := l.stopped || l.eof || l.closed
			l.mu.Unlock()
			if !late { // READY=1 after STOPPING=1 breaks the protocol
				l.report(Report{Ready: true, Slots: l.slots})
			}
		} else {
			l.notify.notify("READY=1")
		}
	})
	switch {
	case l.mode == ModeHandoff:
		return l.acceptHandoff()
	case l.conns != nil:
		select {
		case a, ok := <-l.conns:
			if !ok {
				return nil, l.closedError()
			}
			return a.c, a.err
		case <-l.done:
			return nil, l.closedError()
		}
	default:
		return l.lns[0].Accept()
	}
}

func (l *Listener) acceptHandoff() (net.Conn, error) {
	for {
		l.mu.Lock()
		closed, eof, fatal := l.closed, l.eof, l.fatal
		l.mu.Unlock()
		switch {
		case fatal != nil:
			return nil, fatal
		case closed || eof:
			return nil, l.closedError()
		}

		m, f, err := ReadMessage(l.ch)
		if err != nil {
			l.mu.Lock()
			closed = l.closed
			switch {
			case closed:
			case errors.Is(err, io.EOF):
				l.eof = true
			default:
				l.fatal = fmt.Errorf("accept: %w", err)
			}
			l.mu.Unlock()
			if !closed && errors.Is(err, io.EOF) {
				l.markStopping()
			}
			continue
		}
		if !IsHandoff(m) {
			if f != nil {
				f.Close()
			}
			continue // not used in version 1: ignored
		}
		h, err := ParseHandoff(m)
		if err == nil && f == nil {
			err = protocolError("CONN=1 without a descriptor")
		}
		var c net.Conn
		if err == nil {
			c, err = net.FileConn(f) // dups the descriptor
			if outOfFDs(err) {
				// Not the broker's fault: this connection is lost (its
				// client sees it close), and the worker serves on.
				f.Close()
				l.report(Report{Done: true, ID: h.ID})
				continue
			}
			if err != nil {
				err = protocolError("CONN=1 descriptor: %v", err)
			} else if !isStream(c) {
				c.Close()
				err = protocolError("CONN=1 with a descriptor that is not a stream socket")
			}
		}
		if f != nil {
			f.Close()
		}
		if err != nil {
			if h.ID != 0 {
				l.report(Report{Done: true, ID: h.ID})
			}
			l.mu.Lock()
			l.fatal = fmt.Errorf("accept: %w", err)
			l.mu.Unlock()
			continue
		}
		l.mu.Lock()
		l.held++
		closed = l.closed
		l.mu.Unlock()
		conn := &Conn{raw: c, handoff: h, l: l}
		if closed {
			conn.Close()
			continue
		}
		return conn, nil
	}
}

// outOfFDs says err is the process (or the system) being out of file
// descriptors.
func outOfFDs(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

func isStream(c net.Conn) bool {
	switch c := c.(type) {
	case *net.TCPConn:
		return true
	case *net.UnixConn:
		return c.LocalAddr().Network() == "unix"
	}
	return false
}

// report sends r on the channel; handoff mode only.
func (l *Listener) report(r Report) error {
	return WriteMessage(l.ch, r.Message(), nil)
}

// release is called once per handed-out Conn, after it is closed.
func (l *Listener) release(id uint64) {
	l.report(Report{Done: true, ID: id}) // fails only if the broker is gone
	l.mu.Lock()
	l.held--
	closeCh := l.closed && l.held == 0 && !l.chClosed
	l.chClosed = l.chClosed || closeCh
	l.mu.Unlock()
	if closeCh {
		l.ch.Close()
	}
}

// watchdog sends WATCHDOG=1 at half the interval until Close: on the
// channel under zsm handoff, to NOTIFY_SOCKET otherwise.
func (l *Listener) watchdog(interval time.Duration) {
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if l.mode == ModeHandoff {
				l.report(Report{Watchdog: true}) // fails only if the broker is gone
			} else {
				l.notify.notify("WATCHDOG=1")
			}
		case <-l.done:
			return
		}
	}
}

func (l *Listener) markStopping() {
	l.stoppingOnce.Do(func() { close(l.stopping) })
}

func (l *Listener) closedError() error {
	return &net.OpError{Op: "accept", Net: l.addr.Network(), Addr: l.addr, Err: net.ErrClosed}
}

// Close closes the Listener at once; Accept then fails with [net.ErrClosed]
// and Stopping is closed. It does not close connections already accepted.
// Unlike Stop, Close is abrupt: in handoff mode, connections the broker has
// sent and Accept has not returned are closed unserved (after STOPPING=1 is
// sent, so the broker sends no more); prefer Stop, or waiting for Stopping,
// before Close. In handoff mode the channel itself stays open until every
// accepted Conn is closed, so that their DONE=1 still reach the broker.
// Close waits for the Listener's goroutines. Calls after the first return
// the first one's result.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		if l.sigc != nil {
			signal.Stop(l.sigc)
		}
		if l.mode == ModeHandoff {
			l.mu.Lock()
			tell := !l.eof && l.fatal == nil
			l.mu.Unlock()
			if tell {
				l.Stop()
			}
			l.mu.Lock()
			l.closed = true
			closeCh := l.held == 0 && !l.chClosed
			l.chClosed = l.chClosed || closeCh
			l.mu.Unlock()
			if closeCh {
				l.closeErr = l.ch.Close()
			} else {
				// Wake a blocked Accept; the channel closes with the last Conn.
				l.ch.SetReadDeadline(time.Now())
			}
		} else {
			for _, ln := range l.lns {
				if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) && l.closeErr == nil {
					l.closeErr = err
				}
			}
		}
		close(l.done)
		l.markStopping()
		l.wg.Wait()
	})
	return l.closeErr
}

// channelAddr is a handoff Listener's Addr.
type channelAddr struct{}

func (channelAddr) Network() string { return "zsm" }
func (channelAddr) String() string  { return "zsm-channel" }

// stackSignal is the signal EnvStackSignal names, if it names one.
func stackSignal(env Env) (syscall.Signal, bool) {
	v, ok := env.take(EnvStackSignal)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 64 || n == int(syscall.SIGKILL) || n == int(syscall.SIGSTOP) {
		return 0, false
	}
	return syscall.Signal(n), true
}

// dumpStacks writes the stacks of every goroutine to stderr on sig (which
// the runtime's SIGQUIT does too, but then exits), until Close: a slow
// request's stack lands in the worker's own log.
func (l *Listener) dumpStacks(sig syscall.Signal) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, sig)
	defer signal.Stop(c)
	buf := make([]byte, 1<<20)
	for {
		select {
		case <-c:
			n := runtime.Stack(buf, true)
			fmt.Fprintf(os.Stderr, "zsm: signal %d (%v): the stacks of pid %d's goroutines\n%s\n", int(sig), sig, os.Getpid(), buf[:n])
		case <-l.done:
			return
		}
	}
}
