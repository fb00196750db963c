package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/zsm-dev/zsm/internal/status"
)

// fake is a Controller that records what it was asked.
type fake struct {
	mu       sync.Mutex
	calls    []string
	reloaded chan struct{}
	err      error
}

func (f *fake) record(call string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	return f.err
}

func (f *fake) Status(context.Context) (status.Site, error) {
	return status.Site{Site: "blog", State: "running", Workers: []status.Worker{{Pid: 42, State: "ready"}}}, f.record("status")
}

func (f *fake) Reload(context.Context) error {
	defer func() {
		if f.reloaded != nil {
			f.reloaded <- struct{}{}
		}
	}()
	return f.record("reload")
}

func (f *fake) SetPool(_ context.Context, minIdle, max int) error {
	return f.record(fmt.Sprintf("setpool %d %d", minIdle, max))
}

func (f *fake) Drain(context.Context) error { return f.record("drain") }

// serve runs a control server for site in dir until the test ends.
func serve(t *testing.T, dir, site string, c Controller) {
	t.Helper()
	srv, err := Listen(dir, site)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { srv.Serve(ctx, c) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if _, err := os.Stat(Path(dir, site)); !os.IsNotExist(err) {
			t.Errorf("control socket left after Serve: %v", err)
		}
	})
}

// Every Controller method travels over the socket, and back.
func TestRequests(t *testing.T) {
	dir := t.TempDir()
	f := &fake{reloaded: make(chan struct{}, 1)}
	serve(t, dir, "blog", f)
	fi, err := os.Stat(Path(dir, "blog"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	ctx := context.Background()
	c := NewClient(dir, "blog")
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (status.Site{Site: "blog", State: "running", Workers: []status.Worker{{Pid: 42, State: "ready"}}}); !cmp.Equal(st, want) {
		t.Errorf("status %+v, want %+v", st, want)
	}
	for name, call := range map[string]func() error{
		"reload":  func() error { return c.Reload(ctx) },
		"setpool": func() error { return c.SetPool(ctx, 2, 5) },
		"drain":   func() error { return c.Drain(ctx) },
	} {
		if err := call(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := c.ReloadAsync(ctx); err != nil {
		t.Errorf("reload-async: %v", err)
	}
	<-f.reloaded
	<-f.reloaded
	f.mu.Lock()
	calls := f.calls
	f.mu.Unlock()
	for _, want := range []string{"status", "reload", "setpool 2 5", "drain"} {
		found := false
		for _, c := range calls {
			found = found || c == want
		}
		if !found {
			t.Errorf("the broker was not asked %q (asked %v)", want, calls)
		}
	}
}

// A failure comes back as the error, on one line; a site with no broker
// is ErrNotRunning.
func TestErrors(t *testing.T) {
	dir := t.TempDir()
	serve(t, dir, "blog", &fake{err: errors.New("config.hcl:3:13: Invalid address\nsecond line")})
	ctx := context.Background()
	err := NewClient(dir, "blog").Reload(ctx)
	if err == nil || err.Error() != "config.hcl:3:13: Invalid address | second line" {
		t.Errorf("a failing reload: %v", err)
	}
	if err := NewClient(dir, "shop").Reload(ctx); !errors.Is(err, ErrNotRunning) {
		t.Errorf("a site with no broker: %v, want ErrNotRunning", err)
	}
	if _, err := NewClient(dir, "blog").request(ctx, "FROB"); err == nil {
		t.Error("an unknown request was accepted")
	}
	if _, err := NewClient(dir, "blog").request(ctx, "SET-POOL x 2"); err == nil {
		t.Error("SET-POOL with a bad number was accepted")
	}
}

// List finds every broker, leaves out the socket of one that died, and
// lists one that does not answer in time as unknown.
func TestList(t *testing.T) {
	dir := t.TempDir()
	serve(t, dir, "blog", &fake{})
	// A dead broker's socket: nobody listens.
	dead, err := net.Listen("unix", Path(dir, "gone"))
	if err != nil {
		t.Fatal(err)
	}
	dead.(*net.UnixListener).SetUnlinkOnClose(false)
	dead.Close()
	// A hung broker: it accepts, never answers.
	hung, err := net.Listen("unix", Path(dir, "hung"))
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close()
	os.WriteFile(filepath.Join(dir, "zsm", "notes.txt"), nil, 0o600)

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	sites, err := List(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(sites) != 2 || sites[0].Site != "blog" || sites[0].State != "running" || sites[1].Site != "hung" || sites[1].State != "unknown" {
		t.Errorf("List: %+v; want blog running, hung unknown", sites)
	}
}

func TestListenReplacesStale(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Dir(Path(dir, "x")), 0o700)
	l, err := net.Listen("unix", Path(dir, "x"))
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	srv, err := Listen(dir, "x")
	if err != nil {
		t.Fatalf("a stale control socket was not replaced: %v", err)
	}
	// A live one is never replaced: a second broker for the site fails.
	if _, err := Listen(dir, "x"); err == nil {
		t.Error("a second broker took a live control socket")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	srv.Serve(ctx, &fake{})
}
