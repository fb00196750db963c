package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// idleDialers is how many goroutines open (and later check) the idle
// connections.
const idleDialers = 64

// costIdle holds -idle-conns connections through handoff and proxy.
func (l *lab) costIdle(ctx context.Context, sc *Scenario) {
	modes := l.opts.wanted([]string{targetHandoff, targetProxy})
	if len(modes) == 0 {
		return
	}
	n := l.opts.idleN
	// The bench holds n sockets; a proxying broker two per connection, and
	// the pipes it splices through (two fds per direction while a copy
	// runs): up to six.
	want := uint64(8*n + 4096)
	limit, err := raiseNoFile(want)
	if err != nil {
		sc.fail(err)
		return
	}
	sc.Notes = append(sc.Notes, fmt.Sprintf(
		"Idle connections: %d connections opened to the site (%d at a time), each sending one request and reading its "+
			"response, then held open and silent for %v (kept alive: hello's 10s ReadHeaderTimeout would close a connection that never sent a request); "+
			"then the broker's RSS and open files, a fresh request on a new connection, and a second request on every held connection. "+
			"handoff: one worker with -slots %d; proxy: one backend with maxconn as large (by default an instance is given "+
			"at most its listen backlog, 4096 for hello, and the rest wait in the broker's queue). RLIMIT_NOFILE of the bench and what it starts: %d.",
		n, idleDialers, l.opts.idleFor, n+64, limit))
	if limit < want {
		sc.Notes = append(sc.Notes, fmt.Sprintf(
			"RLIMIT_NOFILE could only be raised to %d here, below the %d asked for: a proxying broker needs two sockets per "+
				"connection plus its splice pipes; raising the hard limit (ulimit -Hn) needs CAP_SYS_RESOURCE.", limit, want))
	}
	tab := sc.table(fmt.Sprintf("%d idle connections", n), "mode", "held", "broker RSS", "broker open files (per held)",
		"fresh request", "answered on held", "first error")
	for _, mode := range modes {
		if ctx.Err() != nil {
			return
		}
		label := id(scenarioCost, "idle", mode)
		s, err := l.startZSM(ctx, site{mode: mode, workers: 1, slots: n + 64, maxconn: n + 64, label: label})
		if err != nil {
			sc.fail(err)
			continue
		}
		r, err := l.holdIdle(ctx, s, n)
		if serr := l.stopServer(s); serr != nil {
			sc.fail(serr)
		}
		if err != nil {
			sc.fail(fmt.Errorf("idle %s: %w", mode, err))
			continue
		}
		base := id(scenarioCost, "idle", mode)
		sc.add(id(base, "held"), float64(r.held), "conns")
		sc.add(id(base, "broker_rss_mib"), mib(r.mem.RSS), "MiB")
		sc.add(id(base, "broker_open_files"), float64(r.files), "")
		fresh := sc.check(id(base, "fresh_request_ok"), boolFigure(r.fresh == nil), "", Target{Op: ">=", Value: 1, Text: "served"})
		answered := sc.check(id(base, "answered"), float64(r.answered), "conns",
			Target{Op: ">=", Value: float64(n), Text: fmt.Sprintf("all %d answered", n)})
		first := ""
		for _, e := range []error{r.firstErr, r.fresh} {
			if e != nil && first == "" {
				first = e.Error()
			}
		}
		if r.limit > 0 {
			sc.add(id(base, "broker_fd_limit"), float64(r.limit), "")
		}
		if r.gaveUp {
			tab.Notes = append(tab.Notes, fmt.Sprintf("%s: stopped opening connections after %d failures.", mode, idleMaxFailures))
		}
		if r.held < n && r.limit > 0 && r.files >= r.limit-64 {
			tab.Notes = append(tab.Notes, fmt.Sprintf(
				"%s: the broker ran out of file descriptors: %d open at its RLIMIT_NOFILE of %d, %.1f per held connection, "+
					"so it can hold about %d connections here.",
				mode, r.files, r.limit, float64(r.files)/float64(max(r.held, 1)), r.limit*max(r.held, 1)/max(r.files, 1)))
		}
		tab.row(mode, fmt.Sprintf("%d/%d", r.held, n), formatValue(mib(r.mem.RSS), "MiB"), fmt.Sprintf("%d (%.1f)", r.files, float64(r.files)/float64(max(r.held, 1))), fresh, answered, first)
	}
}

// boolFigure is 1 for true.
func boolFigure(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// idleResult is what holding the connections showed.
type idleResult struct {
	held     int    // connections open and answered once
	mem      memory // the broker's, while they were held
	files    int    // the broker's open files, meanwhile
	limit    int    // the broker's RLIMIT_NOFILE
	fresh    error  // a request on a new connection meanwhile
	answered int    // held connections that answered a second request
	firstErr error
	gaveUp   bool // opening stopped after too many failures
}

// Bounds of holdIdle: each phase (opening, answering) ends within
// idlePhase, every connect and request within idleOp, and opening stops
// after idleMaxFailures failures: a broker that cannot take more
// connections leaves them in its listen queue, where each would wait for
// idleOp.
const (
	idlePhase       = time.Minute
	idleOp          = 10 * time.Second
	idleMaxFailures = 2 * idleDialers
)

// heldConn is one idle connection.
type heldConn struct {
	c  net.Conn
	br *bufio.Reader
}

// holdIdle opens n connections to s, each answered once, holds them, and
// checks the broker and each connection.
func (l *lab) holdIdle(ctx context.Context, s *server, n int) (idleResult, error) {
	var r idleResult
	conns := make([]*heldConn, n)
	defer func() {
		for _, hc := range conns {
			if hc != nil {
				hc.c.Close()
			}
		}
	}()
	var fails idleFailures
	openIdle(ctx, s, conns, &fails)
	if err := ctx.Err(); err != nil {
		return r, err
	}
	r.gaveUp = fails.tooMany()
	for _, hc := range conns {
		if hc != nil {
			r.held++
		}
	}
	fmt.Fprintf(l.log, "  %s: holding %d of %d connections for %v\n", s.target, r.held, n, l.opts.idleFor)
	t := time.NewTimer(l.opts.idleFor)
	select {
	case <-ctx.Done():
		t.Stop()
		return r, ctx.Err()
	case <-t.C:
	}
	if err := inspectIdle(s, &r); err != nil {
		return r, err
	}
	r.answered = answerHeld(ctx, conns, &fails)
	r.firstErr = fails.firstErr()
	return r, ctx.Err()
}

// idleFailures counts the failed connects and requests of holdIdle.
type idleFailures struct {
	mu    sync.Mutex // guards the fields below
	n     int
	first error
}

func (f *idleFailures) add(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if f.first == nil {
		f.first = err
	}
}

// tooMany reports whether there were idleMaxFailures failures or more.
func (f *idleFailures) tooMany() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n >= idleMaxFailures
}

func (f *idleFailures) firstErr() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.first
}

// openIdle fills conns with connections to s, idleDialers at a time, each
// answered once; a slot stays nil when that failed. It stops opening after
// idleMaxFailures failures or idlePhase.
func openIdle(ctx context.Context, s *server, conns []*heldConn, fails *idleFailures) {
	phaseEnd := time.Now().Add(idlePhase)
	parallel(idleDialers, len(conns), func(i int) {
		if ctx.Err() != nil || fails.tooMany() || time.Now().After(phaseEnd) {
			return
		}
		d := net.Dialer{Deadline: opDeadline(phaseEnd)}
		c, err := d.DialContext(ctx, "tcp", s.addr)
		if err != nil {
			fails.add(fmt.Errorf("connect: %w", err))
			return
		}
		hc := &heldConn{c: c, br: bufio.NewReader(c)}
		if err := hc.request(phaseEnd); err != nil {
			c.Close()
			fails.add(fmt.Errorf("first request: %w", err))
			return
		}
		conns[i] = hc
	})
}

// inspectIdle records in r the broker's memory, open files and
// RLIMIT_NOFILE while the connections are held, and how a request on a
// fresh connection fares.
func inspectIdle(s *server, r *idleResult) error {
	pid := s.main.pid()
	var err error
	if r.mem, err = readMemory(pid); err != nil {
		return err
	}
	if r.files, err = openFiles(pid); err != nil {
		return err
	}
	r.limit, _ = fileLimit(pid)
	if code, err := get(s.addr); err != nil {
		r.fresh = fmt.Errorf("fresh request: %w", err)
	} else if code != http.StatusOK {
		r.fresh = fmt.Errorf("fresh request: status %d", code)
	}
	return nil
}

// answerHeld makes a second request on every held connection, within
// idlePhase, and returns how many were answered.
func answerHeld(ctx context.Context, conns []*heldConn, fails *idleFailures) int {
	answered := make([]bool, len(conns))
	phaseEnd := time.Now().Add(idlePhase)
	parallel(idleDialers, len(conns), func(i int) {
		if conns[i] == nil || ctx.Err() != nil {
			return
		}
		if err := conns[i].request(phaseEnd); err != nil {
			fails.add(fmt.Errorf("request on a held connection: %w", err))
			return
		}
		answered[i] = true
	})
	n := 0
	for _, ok := range answered {
		if ok {
			n++
		}
	}
	return n
}

// opDeadline is idleOp from now, but not after end.
func opDeadline(end time.Time) time.Time {
	d := time.Now().Add(idleOp)
	if d.After(end) {
		return end
	}
	return d
}

// request sends GET / on the kept-alive connection and reads a 200, by
// opDeadline(end).
func (hc *heldConn) request(end time.Time) error {
	hc.c.SetDeadline(opDeadline(end))
	defer hc.c.SetDeadline(time.Time{})
	if _, err := hc.c.Write(requestKeepAlive); err != nil {
		return err
	}
	resp, err := http.ReadResponse(hc.br, nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	if resp.Close {
		return errors.New("the server closes the connection")
	}
	return nil
}

// parallel calls f(0..n-1) from k goroutines and returns when all are done.
func parallel(k, n int, f func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(k, n) {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// raiseNoFile raises RLIMIT_NOFILE of this process, and so of every process
// it starts from now on, to want if it may (root may raise the hard limit),
// else to the hard limit, and returns the new soft limit. Setting it
// explicitly also stops Go from restoring the original soft limit in
// children.
func raiseNoFile(want uint64) (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	next := syscall.Rlimit{Cur: max(rl.Cur, want), Max: max(rl.Max, want)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next); err != nil {
		next = syscall.Rlimit{Cur: rl.Max, Max: rl.Max}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next); err != nil {
			return 0, fmt.Errorf("setrlimit: %w", err)
		}
	}
	return next.Cur, nil
}
