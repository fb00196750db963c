package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/event"
	"github.com/zsm-dev/zsm/internal/proc"
)

// Socket is one listening socket of the site.
type Socket struct {
	Addr config.Address
	// File is the listening socket. Run does not close it: the caller owns
	// it and may pass it to the next broker.
	File *os.File
}

// Notifier tells the service manager about the broker (sd_notify(3)).
// A nil Notifier does nothing.
type Notifier interface {
	Notify(state string) error
}

// Spawner starts worker processes.
type Spawner interface {
	Spawn(proc.Spec) (Process, error)
}

// Process is a started worker. Only the broker's waiter calls Wait.
type Process interface {
	Pid() int
	Signal(syscall.Signal) error
	Wait() *os.ProcessState
}

// FDStore keeps fds for the broker's next start (systemd's fd store).
type FDStore interface {
	// StoreFD stores a duplicate of fd under name; the caller still owns
	// fd.
	StoreFD(name string, fd int) error
}

// StoredConn is the name connections are stored under (sockets.StoredConn).
const StoredConn = "zsm-conn"

// Config is what a Broker runs.
type Config struct {
	Site    *config.Site
	Sockets []Socket // in the order of Site.Listen
	Spawner Spawner
	Notify  Notifier // may be nil
	// Events receives what happens (event.Sink); nil discards. It is
	// called on the broker's loop and must not block.
	Events event.Sink
	// Env is the environment workers start from (the broker's own, as
	// os.Environ gives it); the broker takes out what belongs to its own
	// activation and adds the site's variables.
	Env []string
	// Stdout and Stderr receive the workers' output; nil discards it.
	Stdout, Stderr io.Writer
	// ShrinkAfter is how long a spare beyond min_idle stays idle before it
	// is stopped; zero means 10s.
	ShrinkAfter time.Duration
	// Tick is how often timers are checked; zero means 100ms.
	Tick time.Duration
	// Watchdog is the service manager's watchdog interval (WATCHDOG_USEC):
	// the broker's own loop sends WATCHDOG=1 at half of it. Zero: none.
	Watchdog time.Duration
	// Store, when set, takes the accepted connections a stopping broker
	// could not serve within the stop timeout, for the next broker;
	// without it they get the explicit failure.
	Store FDStore
	// Pending are connections a previous broker accepted and stored. Run
	// serves them first, and closes them.
	Pending []*os.File
	// CanExit says the broker may exit when idle (pool.exit_when_idle): its
	// sockets belong to systemd, which starts it again on the next
	// connection.
	CanExit bool
	// Load re-reads the site's configuration for Reload; nil reloads with
	// the configuration the broker has (a restart of every worker).
	Load func() (*config.Site, error)
	// ConfigError, when set, says the configuration file did not load and
	// Site is a copy of the last one that did: the broker says so in its
	// status until a reload loads the file.
	ConfigError error
}

// ProcessSpawner adapts proc.Spawner to Spawner.
type ProcessSpawner struct{ proc.Spawner }

// Spawn starts a worker.
func (s ProcessSpawner) Spawn(spec proc.Spec) (Process, error) {
	p, err := s.Spawner.Spawn(spec)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Broker runs one site. Its methods other than Run may be called from any
// goroutine, before, during and after Run.
type Broker struct {
	cfg    Config
	events event.Sink

	running chan struct{} // closed once the pool takes requests
	pool    *pool         // the running pool; set before running closes
	stopped chan struct{} // closed when Run returns

	mu    sync.Mutex // guards stats
	stats Stats
}

// New returns a broker for cfg.
func New(cfg Config) *Broker {
	if cfg.ShrinkAfter == 0 {
		cfg.ShrinkAfter = 10 * time.Second
	}
	if cfg.Tick == 0 {
		cfg.Tick = 100 * time.Millisecond
	}
	ev := cfg.Events
	if ev == nil {
		ev = event.Discard
	}
	return &Broker{
		cfg:     cfg,
		events:  ev,
		running: make(chan struct{}),
		stopped: make(chan struct{}),
		stats:   Stats{State: "cold"},
	}
}

// Stats returns a snapshot of the site's counters.
func (b *Broker) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats
}

func (b *Broker) setStats(s Stats) {
	b.mu.Lock()
	b.stats = s
	b.mu.Unlock()
}

// ErrStopTimeout is returned by Run when workers had to be killed after the
// stop timeout.
var ErrStopTimeout = errors.New("broker: workers killed after the stop timeout")

// ErrStopped is returned by the control methods when the broker is not
// running.
var ErrStopped = errors.New("broker: not running")

// Run serves the site until ctx is done, then stops: it stops taking
// connections (those not yet accepted stay in the kernel queue for the next
// broker), lets workers finish what they hold, kills what is left after the
// stop timeout, and returns once every goroutine it started has returned.
// Run may be called once. It does not close the sockets.
//
// The loop runs on the calling goroutine. It is fastest on a thread of its
// own (runtime.LockOSThread) with GOMAXPROCS at least 2, which the caller
// decides; workers get their parent-death signal when the thread that
// started them exits.
func (b *Broker) Run(ctx context.Context) error {
	defer close(b.stopped)
	if len(b.cfg.Sockets) == 0 {
		return errors.New("broker: no sockets")
	}
	p, err := newPool(b)
	if err != nil {
		return err
	}
	return p.run(ctx)
}

// Stats are the site's counters and gauges.
type Stats struct {
	State    string // "cold", "starting", "running", "failing", "stopping"
	Workers  int    // running workers, any state
	Ready    int
	Busy     int    // ready workers holding at least one connection
	Queued   int    // connections waiting in the broker for a worker
	Active   int    // connections held by workers (handoff) or proxied
	Accepted uint64 // connections accepted by the broker
	Served   uint64 // connections finished by a worker
	// Requests workers reported finished (PROTOCOL.md: REQUESTS), and of
	// them a second over the last 10 s; 0 when no worker reports them.
	Requests       uint64
	RequestsPerSec float64
	Shed           uint64 // connections refused: queue full, no worker ready
	Failed         uint64 // connections lost: their worker died holding them
	Restarts       uint64 // workers that exited unexpectedly
	Spawned        uint64 // workers started
	Generation     int    // bumped by every reload
	Breaker        string // "closed", "open" (failing: connections refused at once), "half-open" (retrying)
	LastErr        string
	ConfigErr      string // the configuration file does not load: the broker runs a saved copy
}

// StatusLine is the one-line STATUS= text for systemctl status.
func (s Stats) StatusLine() string {
	line := fmt.Sprintf("%d workers, %d busy, %d queued, %d served", s.Workers, s.Busy, s.Queued, s.Served)
	if s.Shed > 0 {
		line += fmt.Sprintf(", %d shed", s.Shed)
	}
	switch {
	case s.State == "failing":
		line += "; failing: " + s.LastErr
	case s.LastErr != "" && s.Ready == 0:
		line += "; " + s.LastErr
	}
	if s.ConfigErr != "" {
		line += "; running a saved copy of the configuration, which does not load: " + s.ConfigErr
	}
	return line
}
