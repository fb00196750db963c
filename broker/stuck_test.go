package broker

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/loadgen"
	"github.com/zsm-dev/zsm/internal/proc"
)

// stopWorkers SIGSTOPs the broker's ready workers, all of them or all but
// one, and returns their pids; the test's cleanup lets them run again.
func stopWorkers(t *testing.T, r *running, spare bool) []int {
	t.Helper()
	ws, err := r.b.Workers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var stopped []int
	for i, w := range ws {
		if spare && i == 0 {
			continue
		}
		if err := syscall.Kill(w.Pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		stopped = append(stopped, w.Pid)
	}
	t.Cleanup(func() {
		for _, pid := range stopped {
			syscall.Kill(pid, syscall.SIGCONT)
		}
	})
	eventually(t, 5*time.Second, "the workers stopped", func() bool {
		return !slices.ContainsFunc(stopped, func(pid int) bool { return !proc.Stopped(pid) })
	})
	return stopped
}

// warm starts the pool with a request and waits until it has n ready
// workers and no other.
func warm(t *testing.T, r *running, n int) {
	t.Helper()
	if code, _, err := get(r.addr, "/"); err != nil || code != 200 {
		t.Fatalf("warm-up: %d %v", code, err)
	}
	eventually(t, 10*time.Second, fmt.Sprintf("%d ready workers", n), func() bool {
		st := r.b.Stats()
		return st.Ready == n && st.Workers == n
	})
}

// loadOf runs n requests from c clients at once, each with its own
// connection and a deadline, and counts what failed.
func loadOf(addr string, n, c int, limit time.Duration) (failed int, first string) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	jobs := make(chan int, n)
	for i := range n {
		jobs <- i
	}
	close(jobs)
	for range c {
		wg.Go(func() {
			for range jobs {
				code, _, err := loadgen.GetWithin("tcp", addr, "/", limit)
				if err != nil || code != 200 {
					mu.Lock()
					failed++
					if first == "" {
						first = fmt.Sprintf("%d %v", code, err)
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return failed, first
}

// A worker that stops taking connections (SIGSTOP) beside a healthy one:
// what it was handed and never read goes to the healthy worker, it gets no
// more, and it is replaced; no request fails.
func TestStuckWorkerBesideHealthy(t *testing.T) {
	s := testSite(t, config.Handoff, "http")
	s.Pool = config.Pool{MinIdle: 2, Max: 2, Queue: 256}
	r := start(t, s, nil)
	warm(t, r, 2)
	stuck := stopWorkers(t, r, true)

	if failed, first := loadOf(r.addr, 200, 8, 10*time.Second); failed > 0 {
		t.Fatalf("%d of 200 requests failed (first: %s)\n%s", failed, first, r.log.String())
	}
	eventually(t, 10*time.Second, "the stuck worker replaced", func() bool {
		ws, _ := r.b.Workers(context.Background())
		ready := 0
		for _, w := range ws {
			if w.Pid != stuck[0] && w.State == "ready" {
				ready++
			}
		}
		return ready == 2
	})
	if !strings.Contains(r.log.String(), "worker stopped taking connections") {
		t.Errorf("the stuck worker was not reported:\n%s", r.log.String())
	}
}

// Every worker stops taking connections: what they were handed and never
// read is taken back and served by their replacements.
func TestStuckEveryWorker(t *testing.T) {
	s := testSite(t, config.Handoff, "http")
	s.Pool = config.Pool{MinIdle: 1, Max: 1, Queue: 256}
	r := start(t, s, nil)
	warm(t, r, 1)
	stopWorkers(t, r, false)

	if failed, first := loadOf(r.addr, 40, 40, 10*time.Second); failed > 0 {
		t.Fatalf("%d of 40 requests failed (first: %s)\n%s", failed, first, r.log.String())
	}
	if !strings.Contains(r.log.String(), "reclaimed=") {
		t.Errorf("no connection was taken back from the stuck worker:\n%s", r.log.String())
	}
}

// A worker that closes its channel before it is ready has failed to
// start, at once: the waiting client hears why, without waiting for the
// start timeout.
func TestChannelClosedBeforeReady(t *testing.T) {
	s := testSite(t, config.Handoff, "closer")
	s.Timeouts.Start = 30 * time.Second
	r := start(t, s, nil)
	code, body, err := loadgen.GetWithin("tcp", r.addr, "/", 10*time.Second)
	if err != nil || code != 503 || !strings.Contains(body, "closed its channel before it was ready") {
		t.Errorf("got %d %q %v; want a 503 saying the app closed its channel", code, body, err)
	}
}

// Connections that wait in the broker for a worker have a deadline, even
// while the workers are ready: here the only worker holds its two slots
// and never answers. Those it holds are its own (a request timeout is the
// worker's matter); those waiting get the explicit failure.
func TestQueueDeadline(t *testing.T) {
	s := testSite(t, config.Handoff, "taker")
	s.Pool = config.Pool{MinIdle: 1, Max: 1, Queue: 64}
	s.Timeouts.Queue = time.Second
	r := start(t, s, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var refused, hung int
	for range 6 {
		wg.Go(func() {
			code, body, err := loadgen.GetWithin("tcp", r.addr, "/", 5*time.Second)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case code == 503 && strings.Contains(body, "queue timeout"):
				refused++
			case err != nil:
				hung++
			default:
				t.Errorf("got %d %q %v", code, body, err)
			}
		})
	}
	wg.Wait()
	if refused != 4 || hung != 2 {
		t.Errorf("%d got the queue timeout's 503, %d waited on the worker; want 4 and 2", refused, hung)
	}
}

// A backend that takes connections and never answers: the client gets a
// 504 once first_byte has passed, and the broker goes on.
func TestBackendFirstByte(t *testing.T) {
	s := testSite(t, config.Proxy, "mute-backend")
	s.Timeouts.FirstByte = 500 * time.Millisecond
	r := start(t, s, nil)
	for range 3 {
		code, body, err := loadgen.GetWithin("tcp", r.addr, "/", 10*time.Second)
		if err != nil || code != 504 || !strings.Contains(body, "did not answer within 500ms") {
			t.Fatalf("got %d %q %v; want a 504 saying the backend did not answer", code, body, err)
		}
	}
	eventually(t, 5*time.Second, "3 shed, none active", func() bool {
		st := r.b.Stats()
		return st.Shed == 3 && st.Active == 0
	})
}

// A client and backend that say nothing for timeouts.idle are both
// closed; a pair that keeps talking is not.
func TestBackendIdle(t *testing.T) {
	s := testSite(t, config.Proxy, "backend")
	s.Timeouts.Idle = 300 * time.Millisecond
	r := start(t, s, nil)
	ask := func(c net.Conn, br *bufio.Reader) error {
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: t\r\n\r\n")); err != nil {
			return err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return err
	}
	talker, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer talker.Close()
	tb := bufio.NewReader(talker)
	quiet, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer quiet.Close()
	if err := ask(quiet, bufio.NewReader(quiet)); err != nil {
		t.Fatalf("first request: %v", err)
	}
	idleFrom := time.Now()
	// The talker asks every 50ms for three idle timeouts.
	for time.Since(idleFrom) < 3*s.Timeouts.Idle {
		if err := ask(talker, tb); err != nil {
			t.Fatalf("a pair that keeps talking was cut after %s: %v", time.Since(idleFrom).Round(time.Millisecond), err)
		}
		pace := time.NewTimer(50 * time.Millisecond) // the talker's pace, not a wait for something
		<-pace.C
	}
	quiet.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := quiet.Read(make([]byte, 1))
	if n != 0 || err != io.EOF {
		t.Errorf("the quiet pair: read %d, %v; want it closed (EOF)", n, err)
	}
	if d := time.Since(idleFrom); d > 5*time.Second {
		t.Errorf("closed after %s", d)
	}
}

// An instance is given at most backend.maxconn connections at once; the
// rest wait in the broker's queue and go to it as its connections end.
func TestBackendMaxConn(t *testing.T) {
	s := testSite(t, config.Proxy, "backend")
	s.Backend.Ports = s.Backend.Ports[:1]
	s.Backend.MaxConn = 2
	r := start(t, s, nil)
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", r.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: t\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	third := make(chan int, 1)
	go func() {
		code, _, _ := loadgen.GetWithin("tcp", r.addr, "/", 10*time.Second)
		third <- code
	}()
	eventually(t, 5*time.Second, "the third connection queued", func() bool { return r.b.Stats().Queued == 1 })
	held[0].Close()
	select {
	case code := <-third:
		if code != 200 {
			t.Errorf("the queued connection got %d", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the queued connection was not served once a held one ended")
	}
	if !strings.Contains(r.log.String(), "slots=2") {
		t.Errorf("the instance's ready event does not say its 2 slots:\n%s", r.log.String())
	}
}

// A retiring worker gets the site's stop signal, not SIGTERM: nginx
// stops gracefully only on SIGQUIT. Proxy and listen workers get it when
// they are stopped.
func TestStopSignal(t *testing.T) {
	for _, tc := range []struct {
		mode config.Mode
		kind string
		sig  config.Signal
		want string
	}{
		{config.Proxy, "quitter", "QUIT", "exited with status 0"},
		{config.Proxy, "quitter", "TERM", "exited with status 7"},
		{config.Listen, "listen-quitter", "QUIT", "exited with status 0"},
		{config.Listen, "listen-quitter", "TERM", "exited with status 7"},
	} {
		t.Run(string(tc.mode)+"/"+string(tc.sig), func(t *testing.T) {
			sig, want := tc.sig, tc.want
			s := testSite(t, tc.mode, tc.kind)
			if s.Backend != nil {
				s.Backend.Ports = s.Backend.Ports[:1]
			}
			s.Pool = config.Pool{MinIdle: 1, Max: 1, Queue: 16}
			s.StopSignal = sig
			r := start(t, s, nil)
			if code, _, err := get(r.addr, "/"); err != nil || code != 200 {
				t.Fatalf("got %d %v", code, err)
			}
			if err := r.stop(); err != nil {
				t.Errorf("stop: %v", err)
			}
			if !strings.Contains(r.log.String(), want) {
				t.Errorf("stop_signal %s: the instance did not end %q:\n%s", sig, want, r.log.String())
			}
		})
	}
}

// A retiring instance's connections go on for timeouts.drain before its
// stop signal.
func TestDrainBeforeStopSignal(t *testing.T) {
	s := testSite(t, config.Proxy, "quitter")
	s.Backend.Ports = s.Backend.Ports[:1]
	s.StopSignal = "TERM" // the quitter exits 7 at once on it
	s.Timeouts.Drain = time.Second
	r := start(t, s, nil)
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	ask := func() error {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: t\r\n\r\n")); err != nil {
			return err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	if err := ask(); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	began := time.Now()
	go func() { stopped <- r.stop() }()
	eventually(t, 5*time.Second, "the instance retiring", func() bool { return strings.Contains(r.log.String(), "stopping worker") })
	if err := ask(); err != nil {
		t.Errorf("a kept-alive connection failed %s into the drain: %v", time.Since(began).Round(time.Millisecond), err)
	}
	<-stopped
	if d := time.Since(began); d < s.Timeouts.Drain {
		t.Errorf("the broker stopped after %s, before the drain ended", d)
	}
}

// An instance is ready when it listens on its port itself: another
// process answering there (here, the test) does not make it ready, and the
// log names that process.
func TestInstanceMustOwnItsPort(t *testing.T) {
	s := testSite(t, config.Proxy, "silent")
	s.Backend.Ports = s.Backend.Ports[:1]
	s.Timeouts.Start = time.Second
	ln, err := net.Listen("tcp", s.Backend.Addr(s.Backend.Ports[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	r := start(t, s, nil)
	code, body, err := loadgen.GetWithin("tcp", r.addr, "/", 10*time.Second)
	if err != nil || code != 503 || !strings.Contains(body, "was not ready within") {
		t.Errorf("got %d %q %v; want the start timeout's 503", code, body, err)
	}
	want := fmt.Sprintf("port %d is held by pid %d", s.Backend.Ports[0], os.Getpid())
	if !strings.Contains(r.log.String(), want) {
		t.Errorf("the log does not say %q:\n%s", want, r.log.String())
	}
}

// Once a stopping instance has its stop signal, the broker closes the
// connections to it that carry nothing and owe nothing, as a stopping
// server closes its idle kept-alive ones: a server that waits for them
// (nginx, for a connection that has not sent its request) then exits
// rather than being killed after the stop timeout.
func TestIdlePairsOfStoppingInstance(t *testing.T) {
	s := testSite(t, config.Proxy, "lingerer")
	s.Backend.Ports = s.Backend.Ports[:1]
	s.StopSignal = "QUIT"
	s.Timeouts.Drain = 200 * time.Millisecond
	r := start(t, s, nil)
	c, err := net.Dial("tcp", r.addr) // starts the site, sends nothing
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	eventually(t, 10*time.Second, "the connection relayed", func() bool { return r.b.Stats().Active == 1 })
	if err := r.stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	if log := r.log.String(); strings.Contains(log, "killing it") || !strings.Contains(log, "exited with status 0") {
		t.Errorf("the instance did not exit on its own:\n%s", log)
	}
}
