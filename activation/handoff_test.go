package activation

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// get sends one HTTP/1.1 request on c and returns the response body. It
// reads the response by hand (not with http.Client, which retries).
func get(t *testing.T, c net.Conn, br *bufio.Reader, path string, close bool) string {
	t.Helper()
	req := "GET " + path + " HTTP/1.1\r\nHost: test\r\n"
	if close {
		req += "Connection: close\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	return string(body)
}

// handoffListener returns a Listener in handoff mode fed by a new test broker.
func handoffListener(t *testing.T, opts ...Option) (*Listener, *broker) {
	t.Helper()
	b, fd := newBroker(t)
	ln, err := listen(fakeEnv(b.env(fd), 1), "tcp", "", append([]Option{StopSignals()}, opts...)...)
	if err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	if ln.Mode() != ModeHandoff {
		t.Fatalf("mode %v, want handoff", ln.Mode())
	}
	return ln, b
}

// TestHandoffHTTP: an http.Server on a handoff Listener answers connections a
// broker hands over; READY/SLOTS, DONE per closed connection, and the end of
// the channel make Serve return net.ErrClosed and close Stopping.
func TestHandoffHTTP(t *testing.T) {
	checkLeaks(t)
	ln, b := handoffListener(t, Slots(3))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		io.WriteString(w, "hello "+r.URL.Path+" via "+c.Network())
	})}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	if got, want := b.read(), (Report{Ready: true, Slots: 3}); got != want {
		t.Fatalf("first report %+v, want %+v", got, want)
	}

	// One request, Connection: close.
	c1, id1 := b.send()
	if got := get(t, c1, bufio.NewReader(c1), "/one", true); got != "hello /one via tcp" {
		t.Errorf("body %q", got)
	}
	if got, want := b.read(), (Report{Done: true, ID: id1}); got != want {
		t.Fatalf("after the first connection: %+v, want %+v", got, want)
	}

	// Two requests on one keep-alive connection; DONE only when the client
	// hangs up.
	c2, id2 := b.send()
	br := bufio.NewReader(c2)
	for _, p := range []string{"/a", "/b"} {
		if got := get(t, c2, br, p, false); got != "hello "+p+" via tcp" {
			t.Errorf("body %q", got)
		}
	}
	c2.Close()
	if got, want := b.read(), (Report{Done: true, ID: id2}); got != want {
		t.Fatalf("after the keep-alive connection: %+v, want %+v", got, want)
	}

	select {
	case <-ln.Stopping():
		t.Fatal("Stopping closed before the broker ended the channel")
	default:
	}
	b.end()
	wait(t, "Stopping", ln.Stopping())
	if err := wait(t, "Serve", served); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve: %v, want net.ErrClosed", err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after the end: %v", err)
	}
	b.readEOF() // Shutdown closed the Listener, which closes the channel
}

// TestHandoffDrain: the SCGI rule. The broker ends the channel while a
// request is in flight; the request completes, then DONE arrives.
func TestHandoffDrain(t *testing.T) {
	checkLeaks(t)
	ln, b := handoffListener(t)
	started, release := make(chan struct{}), make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "finished")
	})}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	b.read() // READY

	c, id := b.send()
	br := bufio.NewReader(c)
	body := make(chan string, 1)
	go func() {
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			body <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body <- string(b)
	}()
	wait(t, "the handler", started)

	b.end()
	if err := wait(t, "Serve", served); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve: %v", err)
	}
	shutdown := make(chan error, 1)
	go func() { shutdown <- srv.Shutdown(context.Background()) }()
	close(release)
	if got := wait(t, "the response", body); got != "finished" {
		t.Fatalf("in-flight request got %q", got)
	}
	if err := wait(t, "Shutdown", shutdown); err != nil {
		t.Fatal(err)
	}
	// The broker only shut down its sending side, so DONE still counts.
	if got, want := b.read(), (Report{Done: true, ID: id}); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	b.readEOF()
}

// TestHandoffStop: Stop sends STOPPING=1; connections already sent are still
// handed out; Stopping closes only at the broker's end of file.
func TestHandoffStop(t *testing.T) {
	checkLeaks(t)
	ln, b := handoffListener(t, StopSignals(syscall.SIGUSR1))
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	b.read() // READY

	// In flight when the worker decides to stop: sent, not yet accepted.
	client, id := b.send()
	syscall.Kill(os.Getpid(), syscall.SIGUSR1) // a stop signal: Stop()
	c := wait(t, "Accept", accepted)
	if got, want := b.read(), (Report{Stopping: true}); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	select {
	case <-ln.Stopping():
		t.Fatal("Stopping closed before the broker's end of file")
	default:
	}
	client2, id2 := b.send() // sent before the broker read STOPPING=1
	b.end()
	c2, err := ln.Accept()
	if err != nil {
		t.Fatalf("Accept of the connection in flight: %v", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after the end of file: %v", err)
	}
	wait(t, "Stopping", ln.Stopping())

	for _, p := range []struct {
		server, client net.Conn
		id             uint64
	}{{c, client, id}, {c2, client2, id2}} {
		if h := p.server.(*Conn).Handoff(); h.ID != p.id || h.Listener != "127.0.0.1:8080" || h.Peer != p.client.LocalAddr().String() {
			t.Errorf("handoff %+v, want ID %d from %v", h, p.id, p.client.LocalAddr())
		}
		io.WriteString(p.server, "bye")
		p.server.Close()
		p.server.Close() // DONE only once
		if got, _ := io.ReadAll(p.client); string(got) != "bye" {
			t.Errorf("client read %q", got)
		}
		if got, want := b.read(), (Report{Done: true, ID: p.id}); got != want {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	}
	ln.Close()
	b.readEOF()
}

// TestHandoffClose: Close is abrupt but keeps the channel open until the
// accepted connections are closed, so their DONE=1 still arrive.
func TestHandoffClose(t *testing.T) {
	checkLeaks(t)
	ln, b := handoffListener(t)
	first := make(chan net.Conn, 1)
	blocked := make(chan error, 1)
	go func() {
		c, err := ln.Accept() // READY, then the first connection
		first <- c
		if err != nil {
			blocked <- err
			return
		}
		_, err = ln.Accept() // blocks until Close
		blocked <- err
	}()
	b.read() // READY
	_, id := b.send()
	c := wait(t, "the first connection", first)
	if c == nil {
		t.Fatalf("Accept: %v", <-blocked)
	}
	ln.Close()
	if err := wait(t, "Accept", blocked); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	wait(t, "Stopping", ln.Stopping())
	if got, want := b.read(), (Report{Stopping: true}); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	c.Close() // the last held connection: DONE, then the channel closes
	if got, want := b.read(), (Report{Done: true, ID: id}); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	b.readEOF()
}

// TestHandoffBrokerErrors: what the Listener does with bad broker input.
func TestHandoffBrokerErrors(t *testing.T) {
	tests := []struct {
		name    string
		send    func(b *broker) // after READY
		wantErr error           // from Accept; nil: a connection
	}{
		{
			name: "unknown message with a descriptor is ignored",
			send: func(b *broker) {
				f, _ := os.Open(os.DevNull)
				defer f.Close()
				if err := WriteMessage(b.ch, Message{{"HELLO", "1"}}, f); err != nil {
					b.t.Fatal(err)
				}
				b.send()
			},
		},
		{
			name: "CONN without a descriptor",
			send: func(b *broker) {
				if err := WriteMessage(b.ch, Handoff{ID: 1, Listener: "x"}.Message(), nil); err != nil {
					b.t.Fatal(err)
				}
			},
			wantErr: ErrProtocol,
		},
		{
			name: "CONN with a descriptor that is not a socket",
			send: func(b *broker) {
				f, _ := os.Open(os.DevNull)
				defer f.Close()
				if err := WriteMessage(b.ch, Handoff{ID: 9, Listener: "x"}.Message(), f); err != nil {
					b.t.Fatal(err)
				}
			},
			wantErr: ErrProtocol,
		},
		{
			name: "CONN with a bad ID",
			send: func(b *broker) {
				f, _ := os.Open(os.DevNull)
				defer f.Close()
				m := Message{{"CONN", "1"}, {"ID", "0"}, {"LISTENER", "x"}, {"PEER", ""}}
				if err := WriteMessage(b.ch, m, f); err != nil {
					b.t.Fatal(err)
				}
			},
			wantErr: ErrProtocol,
		},
		{
			name: "malformed datagram",
			send: func(b *broker) {
				if _, _, err := b.ch.WriteMsgUnix([]byte("CONN=1\n\nID=1\n"), nil, nil); err != nil {
					b.t.Fatal(err)
				}
			},
			wantErr: ErrProtocol,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			ln, b := handoffListener(t)
			accepted := make(chan error, 1)
			go func() {
				c, err := ln.Accept()
				if c != nil {
					c.Close()
				}
				accepted <- err
			}()
			b.read() // READY
			tt.send(b)
			err := wait(t, "Accept", accepted)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Accept: %v", err)
				}
				if r := b.read(); !r.Done {
					t.Fatalf("got %+v, want DONE", r)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Accept: %v, want %v", err, tt.wantErr)
			}
			if _, err2 := ln.Accept(); !errors.Is(err2, tt.wantErr) {
				t.Fatalf("second Accept: %v, want the same error", err2)
			}
			if tt.name == "CONN with a descriptor that is not a socket" {
				// The descriptor was closed unused: its slot is freed.
				if got, want := b.read(), (Report{Done: true, ID: 9}); got != want {
					t.Fatalf("got %+v, want %+v", got, want)
				}
			}
		})
	}
}

// TestListenHandoffErrors: a bad environment fails Listen with a clear error.
func TestListenHandoffErrors(t *testing.T) {
	tests := []struct {
		name string
		env  func(fd int) map[string]string
	}{
		{"no protocol", func(fd int) map[string]string {
			return map[string]string{EnvChannelFD: strconv.Itoa(fd)}
		}},
		{"protocol 2", func(fd int) map[string]string {
			return map[string]string{EnvChannelFD: strconv.Itoa(fd), EnvProtocol: "2"}
		}},
		{"not a number", func(int) map[string]string {
			return map[string]string{EnvChannelFD: "three", EnvProtocol: "1"}
		}},
		{"closed descriptor", func(int) map[string]string {
			return map[string]string{EnvChannelFD: "999999", EnvProtocol: "1"}
		}},
		{"not a seqpacket socket", func(int) map[string]string {
			return map[string]string{EnvChannelFD: "0", EnvProtocol: "1"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, fd := socketpair(t)
			defer unix.Close(fd)
			env := tt.env(fd)
			ln, err := listen(fakeEnv(env, 1), "tcp", "127.0.0.1:0", StopSignals())
			if err == nil {
				ln.Close()
				t.Fatalf("Listen succeeded in mode %v", ln.Mode())
			}
			t.Log(err)
			if diff := cmp.Diff(map[string]string{}, env); diff != "" {
				t.Errorf("environment not consumed (-want +got):\n%s", diff)
			}
		})
	}
}

// TestConnCopy: a Conn is a thin wrapper: NetConn is the *net.TCPConn, and
// io.Copy between Conns (through ReadFrom/WriteTo, with a LimitedReader too)
// moves the bytes and leaves the reader as it was.
func TestConnCopy(t *testing.T) {
	checkLeaks(t)
	ln, b := handoffListener(t, Slots(2))
	accepted := make(chan net.Conn, 2)
	go func() {
		for range 2 {
			c, err := ln.Accept()
			if err != nil {
				t.Error(err)
			}
			accepted <- c
		}
	}()
	b.read() // READY
	client1, id1 := b.send()
	client2, id2 := b.send()
	c1, c2 := wait(t, "Accept", accepted), wait(t, "Accept", accepted)
	for _, c := range []net.Conn{c1, c2} {
		if _, ok := c.(*Conn).NetConn().(*net.TCPConn); !ok {
			t.Fatalf("NetConn is %T, want *net.TCPConn", c.(*Conn).NetConn())
		}
	}

	io.WriteString(client1, "hello, world")
	lr := &io.LimitedReader{R: c1, N: 5}
	if n, err := c2.(*Conn).ReadFrom(lr); n != 5 || err != nil {
		t.Fatalf("ReadFrom(LimitedReader) = %d, %v", n, err)
	}
	if lr.R != c1 || lr.N != 0 {
		t.Errorf("LimitedReader changed: %T, %d", lr.R, lr.N)
	}
	client1.(*net.TCPConn).CloseWrite()
	if n, err := io.Copy(c2, c1); n != 7 || err != nil { // WriteTo
		t.Fatalf("io.Copy = %d, %v", n, err)
	}
	c2.(*Conn).CloseWrite()
	if got, _ := io.ReadAll(client2); string(got) != "hello, world" {
		t.Errorf("client2 read %q", got)
	}
	c1.Close()
	c2.Close()
	done := map[uint64]bool{b.read().ID: true, b.read().ID: true}
	if !done[id1] || !done[id2] {
		t.Errorf("DONE for %v, want %d and %d", done, id1, id2)
	}
}
