package broker

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zsm-dev/zsm/internal/config"
)

// relayRig runs a relay on its own goroutine, as the pool does, in front
// of a backend the test accepts from. Its owner connects every accepted
// connection to the backend named by to, and records what the relay says.
type relayRig struct {
	t     *testing.T
	r     *relay
	front net.Listener // what clients dial: the relay's listening socket
	back  net.Listener // the backend
	to    atomic.Pointer[worker]
	calls chan func() // run on the relay's goroutine
	done  chan struct{}

	mu       sync.Mutex // guards what follows
	ended    int        // pairs finished
	timeouts []time.Duration
	failed   []error
	parked   []*pending // given back after a failed connect
}

func (g *relayRig) enqueue(c *pending) { g.r.connect(g.to.Load(), c) }

func (g *relayRig) readChannel(*worker) {}

func (g *relayRig) timedOut(_ *worker, after time.Duration) {
	g.mu.Lock()
	g.timeouts = append(g.timeouts, after)
	g.mu.Unlock()
}

func (g *relayRig) acceptFailed(listener string, err error) {
	g.t.Errorf("accept on %s failed: %v", listener, err)
}

func (g *relayRig) finished(*worker) {
	g.mu.Lock()
	g.ended++
	g.mu.Unlock()
}

// connectFailed records the failure and keeps c for the test to connect
// again.
func (g *relayRig) connectFailed(_ *worker, c *pending, err error) {
	g.mu.Lock()
	g.failed = append(g.failed, err)
	g.parked = append(g.parked, c)
	g.mu.Unlock()
}

func newRelayRig(t *testing.T) *relayRig {
	t.Helper()
	g := &relayRig{t: t, calls: make(chan func(), 1), done: make(chan struct{})}
	var err error
	if g.front, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if g.back, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	g.to.Store(g.worker(t, g.back.Addr().String()))
	if g.r, err = newRelay(g); err != nil {
		t.Fatal(err)
	}
	f, err := g.front.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := g.r.listen(f, "front"); err != nil {
		t.Fatal(err)
	}
	var stopped atomic.Bool
	go func() {
		defer close(g.done)
		for !stopped.Load() {
			g.r.wait(time.Second)
			for ran := true; ran; {
				select {
				case f := <-g.calls:
					f()
				default:
					ran = false
				}
			}
		}
		g.r.close()
	}()
	t.Cleanup(func() {
		stopped.Store(true)
		g.r.kick()
		<-g.done
		g.front.Close()
		g.back.Close()
	})
	return g
}

func (g *relayRig) worker(t *testing.T, addr string) *worker {
	t.Helper()
	sa, err := resolve(addr)
	if err != nil {
		t.Fatal(err)
	}
	return &worker{be: &backend{addr: addr, sa: sa}}
}

// expireConnects gives back the connects in progress, as if their timeout
// had passed.
func (g *relayRig) expireConnects() {
	g.do(func() {
		g.r.expire(time.Now().Add(time.Hour), time.Minute, 2*time.Hour, 0)
		g.r.report() // as the next wait does
	})
}

// do runs f on the relay's goroutine.
func (g *relayRig) do(f func()) {
	done := make(chan struct{})
	g.calls <- func() { f(); close(done) }
	g.r.kick()
	<-done
}

// pair connects a client through the relay and returns it with the
// backend's end of its connection.
func (g *relayRig) pair() (client, server net.Conn) {
	g.t.Helper()
	client, err := net.Dial("tcp", g.front.Addr().String())
	if err != nil {
		g.t.Fatal(err)
	}
	server, err = g.back.Accept()
	if err != nil {
		g.t.Fatal(err)
	}
	g.t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// state reads what the relay holds, on its goroutine.
func (g *relayRig) state() (ends, inUse, free, dialing int) {
	g.do(func() {
		for _, e := range g.r.ends {
			if e != nil && e.listen == "" {
				ends++
				if e.dialing {
					dialing++
				}
			}
		}
		inUse, free = g.r.pipes.inUse, len(g.r.pipes.free)
	})
	return
}

// Bytes both ways, more than a pipe holds, each side closing its write
// half in turn: everything arrives, in order, the ends pass through, and
// once both are done the relay has let go of the pair.
func TestRelayCopies(t *testing.T) {
	before := openFDs(t)
	t.Cleanup(func() {
		if after := openFDs(t); after != before {
			t.Errorf("%d fds open before the relay, %d after it closed", before, after)
		}
	})
	g := newRelayRig(t)
	client, server := g.pair()
	up, down := make([]byte, 3<<20), make([]byte, 5<<20)
	rand.Read(up)
	rand.Read(down)
	var wg sync.WaitGroup
	var gotUp, gotDown []byte
	wg.Go(func() {
		client.Write(up)
		client.(*net.TCPConn).CloseWrite()
	})
	wg.Go(func() { gotUp, _ = io.ReadAll(server) })
	wg.Wait()
	wg.Go(func() {
		server.Write(down)
		server.(*net.TCPConn).CloseWrite()
	})
	wg.Go(func() { gotDown, _ = io.ReadAll(client) })
	wg.Wait()
	if !bytes.Equal(gotUp, up) || !bytes.Equal(gotDown, down) {
		t.Fatalf("got %d bytes up (want %d), %d down (want %d), or different ones", len(gotUp), len(up), len(gotDown), len(down))
	}
	eventually(t, 5*time.Second, "the relay to finish the pair", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.ended == 1
	})
	if ends, inUse, _, dialing := g.state(); ends != 0 || inUse != 0 || dialing != 0 {
		t.Errorf("after the pair ended the relay holds %d sockets, %d pipes, %d connects; want none", ends, inUse, dialing)
	}
	client.Close()
	server.Close()
}

// Idle connections hold no pipe: only their sockets.
func TestRelayIdleHoldsNoPipe(t *testing.T) {
	g := newRelayRig(t)
	for range 20 {
		client, server := g.pair()
		client.Write([]byte("ping"))
		buf := make([]byte, 4)
		if _, err := io.ReadFull(server, buf); err != nil || string(buf) != "ping" {
			t.Fatalf("read %q, %v", buf, err)
		}
		server.Write([]byte("pong"))
		if _, err := io.ReadFull(client, buf); err != nil || string(buf) != "pong" {
			t.Fatalf("read %q, %v", buf, err)
		}
	}
	ends, inUse, free, _ := g.state()
	if ends != 40 || inUse != 0 || free > 2 {
		t.Errorf("20 idle pairs: %d sockets, %d pipes in use, %d made; want 40, 0, at most 2", ends, inUse, free)
	}
}

// A client reset ends its pair: the backend sees the end, the relay lets go.
func TestRelayReset(t *testing.T) {
	g := newRelayRig(t)
	client, server := g.pair()
	client.(*net.TCPConn).SetLinger(0)
	client.Close()
	server.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(server); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the backend's connection stayed open after its client reset")
	}
	if ends, inUse, _, _ := g.state(); ends != 0 || inUse != 0 {
		t.Errorf("the relay holds %d sockets, %d pipes after the reset; want none", ends, inUse)
	}
}

// A backend that refuses the connect gives the client back to the owner
// with what it sent: connected again, to one that answers, the request
// arrives whole.
func TestRelayRefusedBackend(t *testing.T) {
	g := newRelayRig(t)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	live := g.to.Load()
	g.to.Store(g.worker(t, deadAddr))

	client, err := net.Dial("tcp", g.front.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := client.Write([]byte("GET / HTTP/1.0\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "a refused connect", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.failed) > 0
	})
	g.do(func() { g.r.connect(live, g.parked[0]) })
	server, err := g.back.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	buf := make([]byte, len("GET / HTTP/1.0\r\n\r\n"))
	server.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(server, buf); err != nil || string(buf) != "GET / HTTP/1.0\r\n\r\n" {
		t.Fatalf("the backend read %q, %v; want the request the client sent before the refusal", buf, err)
	}
	g.mu.Lock()
	failed := g.failed
	g.mu.Unlock()
	if len(failed) != 1 || !errors.Is(failed[0], syscall.ECONNREFUSED) {
		t.Errorf("connect failures %v; want one connection refused", failed)
	}
}

// A connect that never completes (the backend's accept queue is full, so
// its SYNs go unanswered) is given back once it is older than the timeout;
// a connected backend that has said nothing yet is not.
func TestRelayConnectTimeout(t *testing.T) {
	g := newRelayRig(t)
	g.pair() // connected, and idle: not known to be up

	g.to.Store(g.worker(t, fullBackend(t)))
	stuck, err := net.Dial("tcp", g.front.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	eventually(t, 5*time.Second, "the relay to connect to the full backend", func() bool {
		_, _, _, dialing := g.state()
		return dialing == 2
	})
	g.expireConnects()
	g.mu.Lock()
	failed := append([]error(nil), g.failed...)
	g.mu.Unlock()
	if len(failed) != 1 || !errors.Is(failed[0], os.ErrDeadlineExceeded) {
		t.Fatalf("connect failures after the timeout: %v; want one deadline exceeded", failed)
	}
	if _, _, _, dialing := g.state(); dialing != 0 {
		t.Errorf("%d connects in progress after the timeout; want none", dialing)
	}
}

// A backend that closes, then resets because its client sends more: the
// error ends the pair at once (epoll reports it on every wait otherwise).
func TestRelayErrorAfterEnd(t *testing.T) {
	g := newRelayRig(t)
	client, server := g.pair()
	server.Close() // the backend's end: the client reads EOF
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(client); err != nil {
		t.Fatalf("the client did not get the backend's end: %v", err)
	}
	client.Write([]byte("more")) // the closed backend answers with a reset
	eventually(t, 5*time.Second, "the relay to end the pair", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.ended == 1
	})
	if ends, inUse, _, _ := g.state(); ends != 0 || inUse != 0 {
		t.Errorf("the relay holds %d sockets, %d pipes after the reset; want none", ends, inUse)
	}
}

// A client that ends before its backend's connect completes: the end is
// passed on once a backend is up, also after the connect was given back
// and made again.
func TestRelayEndWhileConnecting(t *testing.T) {
	g := newRelayRig(t)
	live := g.to.Load()
	g.to.Store(g.worker(t, fullBackend(t)))
	client, err := net.Dial("tcp", g.front.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	client.Write([]byte("request"))
	client.(*net.TCPConn).CloseWrite()
	eventually(t, 5*time.Second, "the relay to connect to the full backend", func() bool {
		_, _, _, dialing := g.state()
		return dialing == 1
	})
	g.expireConnects()
	g.mu.Lock()
	parked := g.parked
	g.mu.Unlock()
	if len(parked) != 1 {
		t.Fatalf("%d connections given back after the connect timed out; want 1", len(parked))
	}
	g.do(func() { g.r.connect(live, parked[0]) })
	server, err := g.back.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	server.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(server)
	if err != nil || string(got) != "request" {
		t.Fatalf("the backend read %q, %v; want the request, then its end", got, err)
	}
}

// fullBackend listens with an accept queue of one, filled: connects to it
// stay in progress, their SYNs dropped.
func fullBackend(t *testing.T) string {
	t.Helper()
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(lfd) })
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(lfd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(lfd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port)
	filler, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { filler.Close() })
	// Under load the kernel may finish the filler's handshake late; until
	// it is in the accept queue, a SYN may still be answered (with a
	// cookie). A listening socket's TCP_INFO counts its accept queue.
	eventually(t, 5*time.Second, "the accept queue to fill", func() bool {
		info, err := unix.GetsockoptTCPInfo(lfd, unix.IPPROTO_TCP, unix.TCP_INFO)
		return err == nil && info.Unacked >= 1
	})
	return addr
}

// Clients that reset as soon as they connect, while the backend holds
// another connection: the pool counts each as finished once, and serves
// on (reading a reset inside the connect once re-entered the pool).
func TestProxyClientResets(t *testing.T) {
	s := testSite(t, config.Proxy, "backend")
	s.Backend.Ports = s.Backend.Ports[:1]
	r := start(t, s, nil)
	held, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if _, err := held.Write([]byte("GET / HTTP/1.1\r\nHost: t\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := held.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		c, err := net.Dial("tcp", r.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	}
	if code, _, err := get(r.addr, "/"); err != nil || code != 200 {
		t.Fatalf("after the resets: %d, %v", code, err)
	}
	held.Close()
	eventually(t, 5*time.Second, "no connection held", func() bool { return r.b.Stats().Active == 0 })
}

// A relay whose last wait was long waits through the runtime next, so
// that the runtime's monitor lets an idle loop sleep; a busy one waits raw.
func TestRelayIdleWaitsThroughRuntime(t *testing.T) {
	g := &relayRig{t: t}
	r, err := newRelay(g)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	// Kicked, a wait returns at once: raw waits follow, unless this
	// machine stalls a wait for idleWait, so allow a few tries.
	raw := false
	for range 50 {
		r.kick()
		r.wait(time.Minute)
		before := r.runtimeWaits
		r.kick()
		r.wait(time.Minute)
		if raw = r.runtimeWaits == before; raw {
			break
		}
	}
	if !raw {
		t.Errorf("a wait after a short one went through the runtime")
	}
	r.wait(2 * idleWait) // nothing comes: a long wait
	before := r.runtimeWaits
	r.kick()
	r.wait(time.Minute)
	if r.runtimeWaits != before+1 {
		t.Errorf("a wait after one of %v was raw", 2*idleWait)
	}
}

// A relay made with a single P never holds it while it waits: every wait
// goes through the runtime, so that the broker's other goroutines run.
func TestRelayOnOnePWaitsThroughRuntime(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	r, err := newRelay(&relayRig{t: t})
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	for i := range 10 {
		r.kick()
		r.wait(time.Minute) // kicked: short, so raw on two Ps
		if r.runtimeWaits != i+1 {
			t.Fatalf("wait %d on one P was raw", i+1)
		}
	}
}
