package shim

import (
	"io"
	"net"
	"path/filepath"
	"testing"
)

// A stream opens with journald's header: the identifier, no unit id,
// priority info (6), level prefixes honoured, no forwarding; then the
// output.
func TestStreamHeader(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "stdout")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := stream(sock, "app")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("hello\n")
	f.Close()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, err := io.ReadAll(c)
	if want := "app\n\n6\n1\n0\n0\n0\nhello\n"; err != nil || string(b) != want {
		t.Errorf("stream: %q, %v; want %q", b, err, want)
	}
	if _, err := stream(filepath.Join(t.TempDir(), "none"), "app"); err == nil {
		t.Error("a stream to no journal connected")
	}
}
