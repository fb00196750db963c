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
	p := testPool(t, site)
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
		// When SIGTERM and SIGKILL are due, after the drain began (stop
		// timeout 5s); -1: no SIGTERM due.
		term, kill time.Duration
	}{
		{"asked", wReady, causeAsked, fateExpected, []syscall.Signal{syscall.SIGTERM}, []event.Kind{event.WorkerStopping}, -1, 5 * time.Second},
		{"stops on its own", wReady, causeOwn, fateExpected, nil, []event.Kind{event.WorkerStopping}, 5 * time.Second, 10 * time.Second},
		{"fault while ready", wReady, causeFault, fateCrash, []syscall.Signal{syscall.SIGTERM}, []event.Kind{event.WorkerStopping}, -1, 5 * time.Second},
		{"fault while starting", wStarting, causeFault, fateCounted, []syscall.Signal{syscall.SIGTERM}, []event.Kind{event.WorkerStopping}, -1, 5 * time.Second},
		{"channel gone", wReady, causeGone, fateCrash, nil, nil, 5 * time.Second, 10 * time.Second},
		{"late", wStarting, causeLate, fateCounted, nil, []event.Kind{event.StartFailed}, -1, 0},
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
			near := func(at time.Time, after time.Duration) bool {
				d := at.Sub(before)
				return d >= after-time.Second && d <= after+time.Second
			}
			if (tt.term < 0) != w.termAt.IsZero() || tt.term >= 0 && !near(w.termAt, tt.term) {
				t.Errorf("SIGTERM at %v after the drain began; want %v", w.termAt.Sub(before), tt.term)
			}
			if !near(w.killAt, tt.kill) {
				t.Errorf("SIGKILL at %v after the drain began; want %v", w.killAt.Sub(before), tt.kill)
			}
			counted := tt.fate == fateCounted
			if (p.failures > 0) != counted || (p.stats.Restarts > 0) != counted {
				t.Errorf("failures %d, restarts %d; a failure counted: %v", p.failures, p.stats.Restarts, counted)
			}
		})
	}
}

// A handoff worker stopped by the broker gets the end of its channel,
// then SIGTERM after the stop timeout, then SIGKILL killGrace later.
func TestHandoffStopSequence(t *testing.T) {
	p := testPool(t, &config.Site{Name: "t", Mode: config.Handoff, Timeouts: config.Timeouts{Stop: 5 * time.Second}})
	pr := &fakeProc{pid: 42}
	w := &worker{seq: 1, proc: pr, pid: 42, state: wReady, wasReady: true}
	p.workers = []*worker{w}
	before := time.Now()
	p.stopWorker(w, "test")
	if len(pr.signals) != 0 {
		t.Errorf("signals at once: %v; want the channel's end only", pr.signals)
	}
	if d := w.termAt.Sub(before); d < 5*time.Second || d > 6*time.Second {
		t.Errorf("SIGTERM %v after the stop; want the stop timeout, 5s", d)
	}
	if d := w.killAt.Sub(w.termAt); d != killGrace {
		t.Errorf("SIGKILL %v after SIGTERM; want %v", d, killGrace)
	}
	p.tick(w.termAt.Add(time.Millisecond))
	p.tick(w.killAt.Add(time.Millisecond))
	if want := []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL}; !slices.Equal(pr.signals, want) {
		t.Errorf("signals %v, want %v", pr.signals, want)
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
