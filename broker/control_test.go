package broker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/internal/config"
)

func TestWorkersSetPoolDrain(t *testing.T) {
	s := testSite(t, config.Handoff, "http")
	s.Pool = config.Pool{MinIdle: 1, Max: 4, Queue: 64}
	r := start(t, s, nil)
	ctx := context.Background()
	if code, _, err := get(r.addr, "/"); err != nil || code != 200 {
		t.Fatalf("warm-up: %d %v", code, err)
	}
	eventually(t, 5*time.Second, "the warm-up counted", func() bool { return r.b.Stats().Served == 1 })
	ws, err := r.b.Workers(ctx)
	if err != nil || len(ws) == 0 {
		t.Fatalf("Workers: %v, %v", ws, err)
	}
	var served uint64
	for _, w := range ws {
		served += w.Served
		if w.Pid == 0 || w.Started.IsZero() || w.RSS == 0 {
			t.Errorf("worker %+v lacks pid, start time or rss", w)
		}
	}
	if served != 1 {
		t.Errorf("workers served %d in all, want 1", served)
	}

	if err := r.b.SetPool(ctx, 3, 3); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "three ready workers after SetPool(3, 3)", func() bool { return r.b.Stats().Ready == 3 })
	if err := r.b.SetPool(ctx, 2, 1); err == nil {
		t.Error("SetPool(2, 1) accepted")
	}
	// The site's rules bound the pool (config.MaxWorkers), whoever asks.
	var problems config.Problems
	if err := r.b.SetPool(ctx, 1, 4000000000); !errors.As(err, &problems) || problems[0].Field != "pool.max" {
		t.Errorf("SetPool(1, 4000000000): %v; want the bound of pool.max", err)
	}
	if err := r.b.SetPool(ctx, 0, 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "one worker after SetPool(0, 1)", func() bool { return r.b.Stats().Workers == 1 })

	if err := r.b.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "no worker after Drain", func() bool { return r.b.Stats().Workers == 0 })
	if code, _, err := get(r.addr, "/"); err != nil || code != 200 {
		t.Errorf("after Drain: %d %v", code, err)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.b.Workers(ctx); err != ErrStopped {
		t.Errorf("Workers after Run returned: %v, want ErrStopped", err)
	}
}
