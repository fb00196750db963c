package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/zsm-dev/zsm/broker"
	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/status"
)

// fallback serves a site whose configuration does not load and that has
// no saved copy, on the sockets systemd passed: every connection gets the
// explicit failure naming the error (an HTTP 503: without a configuration
// nothing says the site speaks anything else), and the broker stays up —
// no exit, no restart loop — until a reload loads the file. It is the
// site's Controller meanwhile.
type fallback struct {
	name   string
	files  []*os.File // the listening sockets; the server owns them
	load   func() (*config.Site, error)
	loaded chan *config.Site // a reload that worked

	mu  sync.Mutex // guards err
	err error      // why the configuration does not load

	accepted, shed atomic.Uint64
}

func newFallback(name string, files []*os.File, err error, load func() (*config.Site, error)) *fallback {
	return &fallback{name: name, files: files, err: err, load: load, loaded: make(chan *config.Site, 1)}
}

func (f *fallback) reason() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return "its configuration does not load: " + f.err.Error()
}

// run answers connections until ctx is done or a reload loads the
// configuration, which it returns (nil when ctx ended). The sockets are
// left as they were given: open, and blocking.
func (f *fallback) run(ctx context.Context) *config.Site {
	var wg sync.WaitGroup
	var ls []net.Listener
	for _, file := range f.files {
		l, err := net.FileListener(file) // a duplicate, closed below
		if err != nil {
			continue
		}
		ls = append(ls, l)
		wg.Go(func() { f.answer(l) })
	}
	defer func() {
		for _, l := range ls {
			l.Close() // ends answer
		}
		wg.Wait()
		for _, file := range f.files {
			unix.SetNonblock(int(file.Fd()), false) // FileListener made it non-blocking
		}
	}()
	select {
	case site := <-f.loaded:
		return site
	case <-ctx.Done():
		return nil
	}
}

// answer refuses every connection l accepts, until it is closed.
func (f *fallback) answer(l net.Listener) {
	var wg sync.WaitGroup
	defer wg.Wait()
	site := &config.Site{Name: f.name, Protocol: config.HTTP}
	for {
		c, err := l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		f.accepted.Add(1)
		f.shed.Add(1)
		reason := f.reason()
		wg.Go(func() { broker.Refuse(c, site, reason) })
	}
}

func (f *fallback) Status(context.Context) (status.Site, error) {
	return status.Site{
		Site: f.name, State: "failing", Breaker: "open", LastError: f.reason(),
		Accepted: f.accepted.Load(), Shed: f.shed.Load(),
	}, nil
}

// Reload loads the configuration again; once it loads, run returns it and
// the server starts the broker on it.
func (f *fallback) Reload(context.Context) error {
	site, err := f.load()
	if err != nil {
		f.mu.Lock()
		f.err = err
		f.mu.Unlock()
		return fmt.Errorf("reload: %w", err)
	}
	select {
	case f.loaded <- site:
	default: // a reload that worked is under way already
	}
	return nil
}

func (f *fallback) SetPool(context.Context, int, int) error { return errors.New(f.reason()) }
func (f *fallback) Drain(context.Context) error             { return errors.New(f.reason()) }
