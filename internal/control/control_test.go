package control

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"testing"
)

func TestRequest(t *testing.T) {
	dir := t.TempDir()
	srv, err := Listen(dir, "blog")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(Path(dir, "blog"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		srv.Serve(ctx, func(_ context.Context, cmd string) error {
			if cmd == Reload {
				return nil
			}
			return errors.New("config.hcl:3:13: Invalid address\nsecond line")
		})
	})
	if err := Request(context.Background(), dir, "blog", Reload); err != nil {
		t.Errorf("RELOAD: %v", err)
	}
	err = Request(context.Background(), dir, "blog", ReloadAsync)
	if err == nil || err.Error() != "config.hcl:3:13: Invalid address | second line" {
		t.Errorf("a failing command: %v", err)
	}
	if err := Request(context.Background(), dir, "shop", Reload); !errors.Is(err, ErrNotRunning) {
		t.Errorf("a site with no broker: %v, want ErrNotRunning", err)
	}
	cancel()
	wg.Wait()
	if _, err := os.Stat(Path(dir, "blog")); !os.IsNotExist(err) {
		t.Errorf("control socket left after Serve: %v", err)
	}
}

func TestListenReplacesStale(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(Path(dir, "x")[:len(Path(dir, "x"))-len("/x.control")], 0o700)
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
	srv.Serve(ctx, nil)
}
