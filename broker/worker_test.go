package broker

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/event"
)

// fakeProc is a Process that records the signals it gets.
type fakeProc struct {
	pid     int
	signals []syscall.Signal
}

func (f *fakeProc) Pid() int                      { return f.pid }
func (f *fakeProc) Signal(s syscall.Signal) error { f.signals = append(f.signals, s); return nil }
func (f *fakeProc) Wait() *os.ProcessState        { return nil }

// machine is a pool of one listen-mode worker in state s, its events
// recorded.
func machine(t *testing.T, s wstate) (*pool, *worker, *fakeProc, *[]event.Event) {
	t.Helper()
	site := &config.Site{Name: "t", Mode: config.Listen, Command: []string{"./app"},
		Timeouts: config.Timeouts{Start: time.Second, Stop: 5 * time.Second}}
	p := testPool(site)
	var events []event.Event
	p.b.events = event.Func(func(e event.Event) { events = append(events, e) })
	pr := &fakeProc{pid: 42}
	w := &worker{seq: 1, proc: pr, pid: 42, state: s, started: time.Now(), wasReady: s > wStarting}
	p.workers = []*worker{w}
	return p, w, pr, &events
}

func kinds(events []event.Event) []event.Kind {
	var ks []event.Kind
	for _, e := range events {
		ks = append(ks, e.Kind)
	}
	return ks
}

// A worker's state only moves forward: every move backwards, or to where
// it is, is refused and changes nothing.
func TestWorkerMovesForwardOnly(t *testing.T) {
	for from := wStarting; from <= wDraining; from++ {
		for to := wStarting; to <= wDraining; to++ {
			p, w, _, events := machine(t, from)
			moved := p.move(w, to, 1, causeAsked, "test")
			if moved != (to > from) {
				t.Errorf("%s → %s: moved %v", from, to, moved)
			}
			want := from
			if to > from {
				want = to
			}
			if w.state != want {
				t.Errorf("%s → %s: now %s, want %s", from, to, w.state, want)
			}
			if !moved && len(*events) > 0 {
				t.Errorf("%s → %s refused, yet emitted %v", from, to, kinds(*events))
			}
		}
	}
}

// Entering ready sets what a ready worker needs and says so.
func TestWorkerBecomesReady(t *testing.T) {
	p, w, _, events := machine(t, wStarting)
	p.nextSpawn = time.Now().Add(time.Hour)
	p.becameReady(w, 8)
	if w.state != wReady || !w.wasReady || w.slots != 8 || w.readyAt.IsZero() || w.idleSince.IsZero() || w.lastPing.IsZero() {
		t.Errorf("ready worker: %+v", w)
	}
	if p.slots != 8 || !p.nextSpawn.IsZero() {
		t.Errorf("pool: slots %d, next spawn %v; want 8 and no backoff", p.slots, p.nextSpawn)
	}
	if got := kinds(*events); !slices.Equal(got, []event.Kind{event.WorkerReady}) {
		t.Errorf("events %v", got)
	}
}

// Entering draining sets its kill time, decides what its exit will mean,
// tells it to stop the mode's way, and says why — by cause.
func TestWorkerDrains(t *testing.T) {
	tests := []struct {
		name    string
		from    wstate
		cause   cause
		fate    fate
		signals []syscall.Signal
		events  []event.Kind
		killNow bool
	}{
		{"asked", wReady, causeAsked, fateExpected, []syscall.Signal{syscall.SIGTERM}, []event.Kind{event.WorkerStopping}, false},
		{"stops on its own", wReady, causeOwn, fateExpected, nil, []event.Kind{event.WorkerStopping}, false},
		{"fault while ready", wReady, causeFault, fateCrash, []syscall.Signal{syscall.SIGTERM}, []event.Kind{event.WorkerStopping}, false},
		{"fault while starting", wStarting, causeFault, fateCounted, []syscall.Signal{syscall.SIGTERM}, []event.Kind{event.WorkerStopping}, false},
		{"channel gone", wReady, causeGone, fateCrash, nil, nil, false},
		{"late", wStarting, causeLate, fateCounted, nil, []event.Kind{event.StartFailed}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, w, pr, events := machine(t, tt.from)
			before := time.Now()
			p.drain(w, tt.cause, "why")
			if w.state != wDraining || w.fate != tt.fate {
				t.Errorf("state %s, fate %d; want draining, fate %d", w.state, w.fate, tt.fate)
			}
			if !slices.Equal(pr.signals, tt.signals) {
				t.Errorf("signals %v, want %v", pr.signals, tt.signals)
			}
			if got := kinds(*events); !slices.Equal(got, tt.events) {
				t.Errorf("events %v, want %v", got, tt.events)
			}
			killNow := w.killAt.Before(before.Add(time.Second))
			if killNow != tt.killNow {
				t.Errorf("kill at %v (now %v); want at once: %v", w.killAt, before, tt.killNow)
			}
			counted := tt.fate == fateCounted
			if (p.failures > 0) != counted || (p.stats.Restarts > 0) != counted {
				t.Errorf("failures %d, restarts %d; a failure counted: %v", p.failures, p.stats.Restarts, counted)
			}
		})
	}
}

// A worker's exit takes it out of the pool once; what it means follows
// from how it got there.
func TestWorkerExits(t *testing.T) {
	exit1 := exitStatus(t, 1)
	tests := []struct {
		name     string
		from     wstate
		fate     fate
		event    event.Kind
		restarts uint64
	}{
		{"asked", wDraining, fateExpected, event.WorkerExited, 0},
		{"counted already", wDraining, fateCounted, event.WorkerExited, 0},
		{"crash", wReady, fateCrash, event.WorkerCrashed, 1},
		{"died starting", wStarting, fateCrash, event.StartFailed, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, w, _, events := machine(t, tt.from)
			w.fate, w.held = tt.fate, 2
			p.exited(w, exit1)
			p.exited(w, exit1) // a second report changes nothing
			if w.state != wGone || len(p.workers) != 0 {
				t.Errorf("state %s, %d workers in the pool; want gone, none", w.state, len(p.workers))
			}
			if got := kinds(*events); !slices.Equal(got, []event.Kind{tt.event}) {
				t.Errorf("events %v, want %v", got, tt.event)
			}
			if p.stats.Restarts != tt.restarts || p.stats.Failed != 2 {
				t.Errorf("restarts %d, failed %d; want %d, 2 (the connections it held)", p.stats.Restarts, p.stats.Failed, tt.restarts)
			}
		})
	}
}

// exitStatus returns the state of a process that exited with code.
func exitStatus(t *testing.T, code int) *os.ProcessState {
	t.Helper()
	cmd := exec.Command("sh", "-c", "exit "+strconv.Itoa(code))
	cmd.Run()
	return cmd.ProcessState
}
