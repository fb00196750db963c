package broker

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/loadgen"
)

// TestReloadUnderLoad: ten reloads in a row under steady load fail no
// request, in every mode, and end with only new workers.
func TestReloadUnderLoad(t *testing.T) {
	for _, mode := range []config.Mode{config.Handoff, config.Listen, config.Proxy} {
		t.Run(string(mode), func(t *testing.T) {
			kind := map[config.Mode]string{config.Handoff: "http", config.Listen: "listen", config.Proxy: "backend"}[mode]
			s := testSite(t, mode, kind)
			s.Pool = config.Pool{MinIdle: 2, Max: 2, Queue: 1024}
			if mode == config.Proxy {
				// Two instances and two spare ports: the new instances
				// start before the old ones drain.
				s.Backend.Ports = append(s.Backend.Ports, freePort(t), freePort(t))
				s.Backend.Instances = 2
			}
			r := start(t, s, nil)
			if code, _, err := get(r.addr, "/"); err != nil || code != 200 {
				t.Fatalf("warm-up: %d %v", code, err)
			}
			load := loadgen.Start(r.addr, 6, 60*time.Second)
			for i := range 10 {
				// Load flows through every generation.
				base := load.OK()
				eventually(t, 10*time.Second, "requests served between reloads", func() bool { return load.OK() >= base+50 })
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				err := r.b.Reload(ctx)
				cancel()
				if err != nil {
					t.Fatalf("reload %d: %v", i+1, err)
				}
			}
			ok, failures := load.Stop()
			t.Logf("%s, across 10 reloads: %s", mode, loadgen.Summary(ok, failures))
			if len(failures) > 0 || ok == 0 {
				t.Errorf("requests failed across reloads: %s", loadgen.Summary(ok, failures))
			}
			st := r.b.Stats()
			if st.Generation != 10 {
				t.Errorf("generation %d after 10 reloads", st.Generation)
			}
			if st.Shed != 0 || st.Failed != 0 {
				t.Errorf("shed %d, failed %d", st.Shed, st.Failed)
			}
		})
	}
}

// TestReloadKeepsRunningOnBadConfig: a configuration that does not load
// leaves the running generation serving, and Reload says why.
func TestReloadKeepsRunningOnBadConfig(t *testing.T) {
	s := testSite(t, config.Handoff, "http")
	bad := errors.New("site.hcl:3:13: Invalid address")
	r := start(t, s, func(c *Config) { c.Load = func() (*config.Site, error) { return nil, bad } })
	if code, _, err := get(r.addr, "/"); err != nil || code != 200 {
		t.Fatalf("warm-up: %d %v", code, err)
	}
	if err := r.b.Reload(context.Background()); !errors.Is(err, bad) {
		t.Fatalf("Reload: %v, want the config's error", err)
	}
	if st := r.b.Stats(); st.Generation != 0 || st.Ready == 0 {
		t.Errorf("after a failed reload: generation %d, %d ready", st.Generation, st.Ready)
	}
	if code, _, err := get(r.addr, "/"); err != nil || code != 200 {
		t.Errorf("after a failed reload: %d %v", code, err)
	}
}

// TestReloadNewWorkersFail: when the new configuration's workers do not
// start, the old ones keep serving and Reload fails with the reason.
func TestReloadNewWorkersFail(t *testing.T) {
	s := testSite(t, config.Handoff, "http")
	broken := *s
	broken.Command = []string{"./no-such-app"}
	r := start(t, s, func(c *Config) { c.Load = func() (*config.Site, error) { return &broken, nil } })
	if code, _, err := get(r.addr, "/"); err != nil || code != 200 {
		t.Fatalf("warm-up: %d %v", code, err)
	}
	err := r.b.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no-such-app") {
		t.Fatalf("Reload: %v, want the new workers' failure", err)
	}
	if code, _, err := get(r.addr, "/"); err != nil || code != 200 {
		t.Errorf("after a failed reload: %d %v", code, err)
	}
}

// TestReloadQueued: reloads asked for during a reload are queued and done
// once more, not lost and not one each.
func TestReloadQueued(t *testing.T) {
	s := testSite(t, config.Handoff, "http")
	r := start(t, s, nil)
	if code, _, err := get(r.addr, "/"); err != nil || code != 200 {
		t.Fatalf("warm-up: %d %v", code, err)
	}
	errs := make(chan error, 4)
	for range 4 {
		go func() { errs <- r.b.Reload(context.Background()) }()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// The first runs alone; the three that queued behind it run once.
	if g := r.b.Stats().Generation; g < 2 || g > 3 {
		t.Errorf("4 concurrent reloads made %d generations, want 2 (or 3 if one arrived after the second began)", g)
	}
}

// TestReloadCold: reloading a site with no workers only takes the new
// configuration; the next connection starts workers with it.
func TestReloadCold(t *testing.T) {
	s := testSite(t, config.Handoff, "http")
	next := *s
	next.Environment = map[string]string{"ZSM_TEST_WORKER": "http", "RELOADED": "1"}
	r := start(t, s, func(c *Config) { c.Load = func() (*config.Site, error) { return &next, nil } })
	if err := r.b.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := r.b.Stats(); st.Workers != 0 || st.Generation != 1 {
		t.Errorf("a cold reload started workers: %+v", st)
	}
	if code, _, err := get(r.addr, "/"); err != nil || code != 200 {
		t.Errorf("first request after a cold reload: %d %v", code, err)
	}
}

// TestReloadLoadsAside: while a reload reads its configuration (a large
// file takes long to parse), the pool goes on serving new connections,
// and reloads asked for meanwhile are queued and done once more, warm or
// cold.
func TestReloadLoadsAside(t *testing.T) {
	for _, warm := range []bool{true, false} {
		t.Run(map[bool]string{true: "warm", false: "cold"}[warm], func(t *testing.T) {
			s := testSite(t, config.Handoff, "http")
			entered, release := make(chan struct{}, 8), make(chan struct{})
			r := start(t, s, func(c *Config) {
				c.Load = func() (*config.Site, error) {
					entered <- struct{}{}
					<-release
					next := *s
					return &next, nil
				}
			})
			var once bool
			t.Cleanup(func() {
				if !once {
					close(release) // before the broker stops
				}
			})
			if warm {
				if code, _, err := get(r.addr, "/"); err != nil || code != 200 {
					t.Fatalf("warm-up: %d %v", code, err)
				}
			}
			errs := make(chan error, 3)
			go func() { errs <- r.b.Reload(context.Background()) }()
			<-entered
			for range 2 {
				go func() { errs <- r.b.Reload(context.Background()) }()
			}
			eventually(t, 5*time.Second, "the two reloads to queue", func() bool {
				var n int
				err := r.b.inspect(context.Background(), func(p *pool) { n = len(p.queuedReloads) })
				return err == nil && n == 2
			})
			// Load is blocked: a new connection is served all the same (cold:
			// it starts the pool's first worker).
			if code, _, err := get(r.addr, "/"); err != nil || code != 200 {
				t.Fatalf("a request while the reload loads: %d %v", code, err)
			}
			once = true
			close(release)
			for range 3 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			if g := r.b.Stats().Generation; g != 2 {
				t.Errorf("3 reloads, 2 of them asked for while the first loaded, made %d generations, want 2", g)
			}
		})
	}
}
