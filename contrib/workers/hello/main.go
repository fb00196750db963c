package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zsm-dev/zsm/activation"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "hello:", err)
		os.Exit(1)
	}
}

// run serves until the listener stops, then drains.
func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("hello", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to bind when not socket-activated")
	slots := fs.Int("slots", activation.DefaultSlots, "connections taken at once under zsm handoff")
	drain := fs.Duration("drain", 30*time.Second, "how long in-flight requests get to finish when stopping")
	startDelay := fs.Duration("start-delay", 0, "sleep this long before listening (a slow-starting app)")
	reusePort := fs.Bool("reuseport", false, "bind -addr with SO_REUSEPORT, so that several processes share it (standalone)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *startDelay < 0 {
		return fmt.Errorf("-start-delay %v: must not be negative", *startDelay)
	}
	time.Sleep(*startDelay)

	opts := []activation.Option{activation.Slots(*slots)}
	if *reusePort {
		opts = append(opts, activation.Bind(&net.ListenConfig{Control: setReusePort}))
	}
	ln, err := activation.Listen("tcp", *addr, opts...)
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Fprintf(stderr, "hello: serving (%v, %v)\n", ln.Mode(), ln.Addr())

	srv := &http.Server{
		Handler:           http.HandlerFunc(hello),
		ReadHeaderTimeout: 10 * time.Second,
	}
	// Serves until the broker (or SIGTERM) says stop, then finishes every
	// request without failing one.
	if err := activation.ServeHTTP(srv, ln, *drain); err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	fmt.Fprintln(stderr, "hello: stopped")
	return nil
}

func hello(w http.ResponseWriter, r *http.Request) {
	// Which worker answered: handy behind a pool, and used by zsm's tests.
	w.Header()["X-Worker-Pid"] = pidHeader
	if n, ok := strings.CutPrefix(r.URL.Path, "/bytes/"); ok {
		serveBytes(w, n)
		return
	}
	if d, ok := strings.CutPrefix(r.URL.Path, "/sleep/"); ok {
		// A slow request: GET /sleep/2s answers after 2 s, or never if
		// the client goes away first.
		wait, err := time.ParseDuration(d)
		if err != nil || wait < 0 || wait > time.Hour {
			http.Error(w, "GET /sleep/D takes a duration up to 1h, such as 2s", http.StatusBadRequest)
			return
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "hello\n")
}

// pidHeader is X-Worker-Pid's value.
var pidHeader = []string{strconv.Itoa(os.Getpid())}

// maxBytes bounds GET /bytes/N (bench's maxBody; the two change together).
const maxBytes = 16 << 20

// filler is what GET /bytes/N repeats.
var filler = bytes.Repeat([]byte("zsm\n"), 16<<10)

// serveBytes answers GET /bytes/N: N bytes of filler.
func serveBytes(w http.ResponseWriter, arg string) {
	n, err := strconv.Atoi(arg)
	if err != nil || n < 0 || n > maxBytes {
		http.Error(w, fmt.Sprintf("GET /bytes/N takes N from 0 to %d, not %q", maxBytes, arg), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(n))
	for n > 0 {
		m, err := w.Write(filler[:min(n, len(filler))])
		if err != nil {
			return // the client went away
		}
		n -= m
	}
}

// setReusePort sets SO_REUSEPORT on a socket before it is bound.
func setReusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); err != nil {
		return err
	}
	return serr
}
