package event

import (
	"bytes"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
)

// Every kind has a name of its own, stable: the journal's ZSM_EVENT.
func TestKindNames(t *testing.T) {
	seen := map[string]Kind{}
	for _, k := range Kinds() {
		name := k.String()
		if name == "" || name == "unknown" {
			t.Errorf("kind %d has no name", k)
		}
		if other, dup := seen[name]; dup {
			t.Errorf("kinds %d and %d are both %q", k, other, name)
		}
		seen[name] = k
	}
	if WorkerCrashed.String() != "worker-crashed" || Refused.String() != "connection-refused" {
		t.Errorf("names changed: %q, %q", WorkerCrashed, Refused)
	}
}

// A record carries the typed fields first, in a fixed order, then Attrs.
func TestRecord(t *testing.T) {
	var buf bytes.Buffer
	h := slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})
	Slog(h).Event(Event{Kind: WorkerExited, Site: "blog", Message: "worker exited", Pid: 42, Worker: 1,
		Status: "exited with status 0", Attrs: []slog.Attr{slog.Int("served", 3)}})
	want := `level=INFO msg="worker exited" site=blog event=worker-exited pid=42 worker=1 generation=0 status="exited with status 0" served=3`
	if got := strings.TrimSpace(buf.String()); got != want {
		t.Errorf("record\n got %s\nwant %s", got, want)
	}
}

func TestTee(t *testing.T) {
	var a, b []Kind
	s := Tee(nil, Func(func(e Event) { a = append(a, e.Kind) }), nil, Func(func(e Event) { b = append(b, e.Kind) }))
	s.Event(Event{Kind: Idle})
	if len(a) != 1 || len(b) != 1 {
		t.Errorf("tee delivered %v and %v; want one each", a, b)
	}
	Tee().Event(Event{}) // discards
}

// A Queue in front of a sink delivers what it is given, in order.
func TestQueue(t *testing.T) {
	var got []Kind
	done := make(chan struct{})
	q := NewQueue(Func(func(e Event) {
		got = append(got, e.Kind)
		if len(got) == 3 {
			close(done)
		}
	}), 8)
	for _, k := range []Kind{Idle, Stopping, Notice} {
		q.Event(Event{Kind: k})
	}
	<-done
	q.Close(time.Second)
	if !slices.Equal(got, []Kind{Idle, Stopping, Notice}) || q.Dropped() != 0 {
		t.Errorf("delivered %v, dropped %d", got, q.Dropped())
	}
}

// A Ring keeps the last n events, oldest first.
func TestRing(t *testing.T) {
	r := NewRing(3)
	if got := r.Last(); len(got) != 0 {
		t.Errorf("an empty ring holds %v", got)
	}
	for i := 1; i <= 5; i++ {
		r.Event(Event{Pid: i})
		want := []int{}
		for p := max(1, i-2); p <= i; p++ {
			want = append(want, p)
		}
		var got []int
		for _, e := range r.Last() {
			got = append(got, e.Pid)
		}
		if !slices.Equal(got, want) {
			t.Errorf("after %d events: %v, want %v", i, got, want)
		}
	}
}

func TestText(t *testing.T) {
	got := Text(Event{Kind: WorkerCrashed, Site: "blog", Message: "worker exited unexpectedly", Pid: 42, Worker: 1,
		Status: "killed by SIGKILL", Attrs: []slog.Attr{slog.String("note", ""), slog.Int("served", 3)}})
	want := `worker exited unexpectedly pid=42 worker=1 generation=0 status="killed by SIGKILL" note="" served=3`
	if got != want {
		t.Errorf("Text\n got %s\nwant %s", got, want)
	}
}
