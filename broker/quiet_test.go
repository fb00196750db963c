package broker

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zsm-dev/zsm/internal/config"
)

// A ready worker with slots to spare has a quiet channel: the broker does
// not wake for its DONEs, and reads them as its count nears its slots, so
// that the worker never fills up and the channel stays quiet. Its reports
// all arrive: what it served shows once they are read.
func TestQuietChannel(t *testing.T) {
	s := testSite(t, config.Handoff, "http")
	s.Environment["ZSM_TEST_SLOTS"] = "16"
	s.Pool = config.Pool{MinIdle: 1, Max: 1, Queue: 16}
	// No tick: the test says when the channel goes quiet.
	r := start(t, s, func(c *Config) { c.Tick = time.Hour })
	if _, _, err := get(r.addr, "/"); err != nil {
		t.Fatal(err)
	}
	inPool := func(f func(p *pool, h *handoff)) {
		t.Helper()
		if err := r.b.inspect(context.Background(), func(p *pool) { f(p, p.m.(*handoff)) }); err != nil {
			t.Fatal(err)
		}
	}
	var quiet bool
	inPool(func(p *pool, h *handoff) {
		h.pace(p, true) // as a tick does
		quiet = len(p.workers) == 1 && p.workers[0].ch.quiet
	})
	if !quiet {
		t.Fatal("a ready worker with 16 slots and nothing queued: its channel is not quiet")
	}
	const n = 100 // several times its slots
	for i := range n {
		if code, _, err := get(r.addr, "/"); err != nil || code != 200 {
			t.Fatalf("request %d: %d, %v", i, code, err)
		}
	}
	var held, slots int
	inPool(func(p *pool, h *handoff) {
		w := p.workers[0]
		quiet, held, slots = w.ch.quiet, w.held, w.slots
	})
	if !quiet || held >= slots {
		t.Fatalf("after %d requests: quiet %v, holding %d of %d slots; want quiet, below its slots", n, quiet, held, slots)
	}
	eventually(t, 5*time.Second, "every DONE read", func() bool {
		inPool(func(p *pool, h *handoff) { h.readQuiet(p) }) // as a tick does
		return r.b.Stats().Served == n+1
	})
}

// A worker that stops on its own (SIGTERM: STOPPING=1) gets the end of its
// channel, as the protocol says, finishes and exits by itself, long before
// the stop timeout would kill it; the next connection goes to a new one.
func TestWorkerStopsOnItsOwn(t *testing.T) {
	s := testSite(t, config.Handoff, "http")
	s.Pool = config.Pool{MinIdle: 1, Max: 1, Queue: 16}
	s.Timeouts.Stop = 30 * time.Second
	r := start(t, s, nil)
	_, body, err := get(r.addr, "/")
	if err != nil {
		t.Fatal(err)
	}
	first := pidOf(t, body)
	if err := syscall.Kill(first, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the worker to exit by itself", func() bool {
		return strings.Contains(r.log.String(), fmt.Sprintf("msg=\"worker exited\" site=t event=worker-exited pid=%d", first))
	})
	if strings.Contains(r.log.String(), "killing it") {
		t.Errorf("the stopping worker was killed:\n%s", r.log.String())
	}
	_, body, err = get(r.addr, "/")
	if err != nil {
		t.Fatal(err)
	}
	if pid := pidOf(t, body); pid == first {
		t.Errorf("the worker that stopped served again")
	}
}

// refuseNow, the answer of a broker out of fds, is the same 503 with the
// reason, which the client reads whole although no one read its request.
func TestRefuseNow(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := client.Write([]byte("GET / HTTP/1.1\r\nHost: t\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	f, err := server.(*net.TCPConn).File()
	server.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The request is in by the time the broker would answer.
	eventually(t, 5*time.Second, "the request to arrive", func() bool {
		n, err := unix.IoctlGetInt(int(f.Fd()), unix.SIOCINQ)
		return err == nil && n > 0
	})
	refuseNow(int(f.Fd()), &config.Site{Name: "t", Protocol: config.HTTP}, "out of file descriptors")
	f.Close()
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(client), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	if resp.StatusCode != 503 || !strings.Contains(string(body), "out of file descriptors") {
		t.Errorf("got %d %q; want 503 with the reason", resp.StatusCode, body)
	}
}

// A DONE read from a quiet channel dispatches, and a dispatch reads the
// quiet channels of nearly full workers first: never the one being read,
// whose later reports would otherwise apply before the rest of this one.
func TestQuietReportsApplyInOrder(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	ch := os.NewFile(uintptr(fds[0]), "channel")
	defer ch.Close()
	defer unix.Close(fds[1])
	for _, m := range []string{"DONE=1\nID=1\nSTATUS=first", "DONE=1\nID=2\nSTATUS=second"} {
		if _, err := unix.Write(fds[1], []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	// Not ready, so that no connection goes to it: the queued one only
	// makes each DONE dispatch.
	w := &worker{slots: 4, held: 4, ch: &channel{f: ch, quiet: true, ids: map[uint64]*pending{1: {}, 2: {}, 3: {}, 4: {}}}}
	p := testPool(t, &config.Site{Mode: config.Handoff})
	p.workers = []*worker{w}
	p.queue = []*pending{{}}
	p.m.(*handoff).readReports(p, w, -1) // as a tick does
	if w.held != 2 || w.status != "second" {
		t.Errorf("after two DONEs: holding %d, STATUS=%q; want 2 and the later STATUS, %q", w.held, w.status, "second")
	}
}
