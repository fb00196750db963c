package freeport

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestPickBelowEphemeral(t *testing.T) {
	ports, err := Pick(20)
	if err != nil {
		t.Fatal(err)
	}
	low := ephemeralLow()
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] {
			t.Errorf("port %d picked twice", p)
		}
		seen[p] = true
		if low-1-lowest >= 1000 && (p < lowest || p >= low) {
			t.Errorf("port %d is outside [%d, %d)", p, lowest, low)
		}
		// Free again once Pick returns.
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Errorf("port %d is not free after Pick: %v", p, err)
			continue
		}
		l.Close()
	}
}

// An outgoing connection's local port blocks a later listener on it;
// Pick's ports never come from where such ports come from.
func TestOutgoingPortsAvoided(t *testing.T) {
	srv, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().(*net.TCPAddr).Port
	if _, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(local))); err == nil {
		t.Skip("this kernel lets a listener share a connected socket's port")
	}
	if low := ephemeralLow(); local < low {
		t.Fatalf("connect(2) took port %d, below the ephemeral range's %d", local, low)
	}
	p, err := One()
	if err != nil {
		t.Fatal(err)
	}
	if p >= ephemeralLow() && ephemeralLow()-1-lowest >= 1000 {
		t.Fatalf("One() = %d, inside the ephemeral range", p)
	}
}

func TestReadLow(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		body string
		want int
		ok   bool
	}{
		{"32768\t60999\n", 32768, true},
		{"1024 65535", 1024, true},
		{"", 0, false},
		{"x y", 0, false},
	} {
		path := filepath.Join(dir, "range")
		if err := os.WriteFile(path, []byte(c.body), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := readLow(path)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("readLow(%q) = %d, %v; want %d, ok %v", c.body, got, err, c.want, c.ok)
		}
	}
}

// Ports picked one at a time, each closed before the next is picked,
// still differ: the bench picks a hundred sites' ports that way.
func TestOneNeverRepeats(t *testing.T) {
	seen := map[int]bool{}
	for range 2000 {
		p, err := One()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("port %d returned twice", p)
		}
		seen[p] = true
	}
}
