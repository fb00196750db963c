package broker

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// proxied returns a client connection that ps splices to a server
// connection, which it also returns.
func proxied(t *testing.T, ps *pipes) (client, server net.Conn) {
	t.Helper()
	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer front.Close()
	back, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	client, err = net.Dial("tcp", front.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a, err := front.Accept()
	if err != nil {
		t.Fatal(err)
	}
	b, err := net.Dial("tcp", back.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = back.Accept()
	if err != nil {
		t.Fatal(err)
	}
	go ps.splice(a, b)
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// Bytes both ways, more than a pipe holds, each side closing its write
// half in turn: everything arrives, in order, and the ends pass through.
func TestSplice(t *testing.T) {
	var ps pipes
	defer ps.close()
	client, server := proxied(t, &ps)
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
}

// Idle connections hold no pipe: only their sockets.
func TestSpliceIdleHoldsNoPipe(t *testing.T) {
	var ps pipes
	defer ps.close()
	for range 20 {
		client, server := proxied(t, &ps)
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
	// Every copy is now waiting for bytes.
	eventually(t, 5*time.Second, "idle copies to give their pipes back", func() bool {
		ps.mu.Lock()
		defer ps.mu.Unlock()
		return ps.inUse == 0
	})
	ps.mu.Lock()
	free := len(ps.free)
	ps.mu.Unlock()
	if free > 2 {
		t.Errorf("%d pipes made for 20 connections used one at a time; want at most 2", free)
	}
}
