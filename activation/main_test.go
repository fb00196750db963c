package activation

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// envChild names the role of a re-executed test binary.
const envChild = "ZSM_ACTIVATION_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(envChild) {
	case "":
		os.Exit(m.Run())
	case "listen":
		if err := childListen(); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	default:
		fmt.Fprintln(os.Stderr, "unknown child role", os.Getenv(envChild))
		os.Exit(2)
	}
}

// testTimeout bounds every wait in these tests.
const testTimeout = 20 * time.Second

// fakeEnv returns an Env that reads and unsets env, for pid.
func fakeEnv(env map[string]string, pid int) Env {
	return Env{
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Unsetenv:  func(k string) error { delete(env, k); return nil },
		Getpid:    func() int { return pid },
	}
}

// socketpair returns a connected SOCK_SEQPACKET pair as the broker's end (a
// *net.UnixConn closed at cleanup) and the worker's raw descriptor, which the
// caller hands on (to Listen, which takes it, or to a child).
func socketpair(t testing.TB) (*net.UnixConn, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[0]), "broker")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.UnixConn), fds[1]
}

// countFDs returns the number of open descriptors of this process.
func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(ents) - 1 // ReadDir's own
}

// checkLeaks records the open descriptors and goroutines now and, at the end
// of the test (after later cleanups), fails if there are more. Call it first.
func checkLeaks(t *testing.T) {
	t.Helper()
	// Warm up what the runtime starts once: the netpoller, the signal loop.
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		ln.Close()
	}
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGUSR2)
	signal.Stop(sigc)
	fds, gs := countFDs(t), runtime.NumGoroutine()
	t.Cleanup(func() {
		err := poll(func() error {
			// splice(2) keeps pipes in a pool that the GC empties.
			runtime.GC()
			if n := countFDs(t); n > fds {
				return fmt.Errorf("%d descriptors open, %d before", n, fds)
			}
			if n := runtime.NumGoroutine(); n > gs {
				return fmt.Errorf("%d goroutines, %d before", n, gs)
			}
			return nil
		})
		if err != nil {
			ents, _ := os.ReadDir("/proc/self/fd")
			for _, e := range ents {
				l, _ := os.Readlink("/proc/self/fd/" + e.Name())
				t.Logf("fd %s -> %s", e.Name(), l)
			}
			buf := make([]byte, 1<<20)
			t.Logf("%s", buf[:runtime.Stack(buf, true)])
			t.Errorf("leak: %v", err)
		}
	})
}

// poll calls cond until it returns nil or testTimeout passes, and returns
// its last error.
func poll(cond func() error) error {
	deadline := time.Now().Add(testTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		<-tick.C
	}
}

// broker is the broker's side of a channel in tests.
type broker struct {
	t      *testing.T
	ch     *net.UnixConn
	tcp    net.Listener // where test clients connect
	nextID uint64
}

func newBroker(t *testing.T) (*broker, int) {
	t.Helper()
	ch, workerFD := socketpair(t)
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tcp.Close() })
	return &broker{t: t, ch: ch, tcp: tcp}, workerFD
}

// env returns the environment a handoff worker gets.
func (b *broker) env(workerFD int) map[string]string {
	return map[string]string{EnvChannelFD: strconv.Itoa(workerFD), EnvProtocol: "1"}
}

// read returns the next worker report, failing the test on anything else.
func (b *broker) read() Report {
	b.t.Helper()
	b.ch.SetReadDeadline(time.Now().Add(testTimeout))
	m, f, err := ReadMessage(b.ch)
	if err != nil {
		b.t.Fatalf("broker: %v", err)
	}
	if f != nil {
		f.Close()
		b.t.Fatalf("broker: worker sent a descriptor with %v", m)
	}
	r, err := ParseReport(m)
	if err != nil {
		b.t.Fatalf("broker: %v", err)
	}
	return r
}

// readEOF waits for the worker to close its end of the channel.
func (b *broker) readEOF() {
	b.t.Helper()
	b.ch.SetReadDeadline(time.Now().Add(testTimeout))
	m, f, err := ReadMessage(b.ch)
	if f != nil {
		f.Close()
	}
	if !errors.Is(err, io.EOF) {
		b.t.Fatalf("broker: want end of file, got %v, %v", m, err)
	}
}

// send connects a client to the broker's TCP listener, hands the server
// side to the worker, closes the broker's copy and returns the client end.
func (b *broker) send() (net.Conn, uint64) {
	b.t.Helper()
	client, err := net.Dial("tcp", b.tcp.Addr().String())
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { client.Close() })
	server, err := b.tcp.Accept()
	if err != nil {
		b.t.Fatal(err)
	}
	defer server.Close()
	b.nextID++
	h := Handoff{ID: b.nextID, Listener: "127.0.0.1:8080", Peer: server.RemoteAddr().String()}
	if err := WriteMessage(b.ch, h.Message(), server.(*net.TCPConn)); err != nil {
		b.t.Fatal(err)
	}
	return client, h.ID
}

// end ends the channel the way the broker should: shutdown(SHUT_WR), still
// reading.
func (b *broker) end() {
	b.t.Helper()
	if err := b.ch.CloseWrite(); err != nil {
		b.t.Fatal(err)
	}
}

// wait returns when ch is closed, failing the test after testTimeout.
func wait[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testTimeout):
		t.Fatalf("timed out waiting for %s", what)
	}
	panic("unreachable")
}
