package activation

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Message // nil: an error wrapping ErrProtocol
	}{
		{"one line", "READY=1", Message{{"READY", "1"}}},
		{"final newline", "READY=1\n", Message{{"READY", "1"}}},
		{"several lines in order", "READY=1\nSLOTS=4\nSTATUS=a = b\n", Message{{"READY", "1"}, {"SLOTS", "4"}, {"STATUS", "a = b"}}},
		{"empty value", "STATUS=", Message{{"STATUS", ""}}},
		{"utf-8 value", "STATUS=café ☕", Message{{"STATUS", "café ☕"}}},
		{"digits and underscores in key", "X_1=y", Message{{"X_1", "y"}}},
		{"unknown keys are kept", "FUTURE=yes\nDONE=1", Message{{"FUTURE", "yes"}, {"DONE", "1"}}},
		{"longest key", strings.Repeat("K", MaxKeySize) + "=v", Message{{strings.Repeat("K", MaxKeySize), "v"}}},
		{"largest datagram", "S=" + strings.Repeat("x", MaxMessageSize-3) + "\n", Message{{"S", strings.Repeat("x", MaxMessageSize-3)}}},

		{"empty", "", nil},
		{"only a newline", "\n", nil},
		{"two final newlines", "READY=1\n\n", nil},
		{"leading newline", "\nREADY=1", nil},
		{"empty line", "READY=1\n\nDONE=1", nil},
		{"no equals sign", "READY", nil},
		{"empty key", "=1", nil},
		{"lowercase key", "ready=1", nil},
		{"key starting with a digit", "1X=1", nil},
		{"key starting with underscore", "_X=1", nil},
		{"space in key", "READY =1", nil},
		{"key too long", strings.Repeat("K", MaxKeySize+1) + "=v", nil},
		{"duplicate key", "DONE=1\nDONE=1", nil},
		{"carriage return", "READY=1\r\n", nil},
		{"tab", "STATUS=a\tb", nil},
		{"NUL", "STATUS=a\x00b", nil},
		{"DEL", "STATUS=a\x7fb", nil},
		{"invalid UTF-8", "STATUS=\xff", nil},
		{"too large", "S=" + strings.Repeat("x", MaxMessageSize-2) + "\n", nil},
		{"too large once the final newline is counted", "S=" + strings.Repeat("x", MaxMessageSize-2), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if tt.want == nil {
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("Parse(%q) = %v, %v; want ErrProtocol", tt.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	got, err := Message{{"READY", "1"}, {"SLOTS", "2"}}.Format()
	if err != nil || string(got) != "READY=1\nSLOTS=2\n" {
		t.Errorf("Format = %q, %v", got, err)
	}
	for _, m := range []Message{
		nil,
		{{"ready", "1"}},
		{{"A", "x\ny"}},
		{{"A", "1"}, {"A", "2"}},
		{{"S", strings.Repeat("x", MaxMessageSize)}},
	} {
		if b, err := m.Format(); !errors.Is(err, ErrProtocol) {
			t.Errorf("Format(%q) = %q, %v; want ErrProtocol", m, b, err)
		}
	}
}

func TestParseReport(t *testing.T) {
	tests := []struct {
		in      string
		want    Report
		wantErr bool
	}{
		{in: "READY=1", want: Report{Ready: true}},
		{in: "READY=1\nSLOTS=65536\nSTATUS=up", want: Report{Ready: true, Slots: MaxSlots, HasStatus: true, Status: "up"}},
		{in: "DONE=1\nID=18446744073709551615", want: Report{Done: true, ID: 1<<64 - 1}},
		{in: "DONE=1", want: Report{Done: true}},
		{in: "STATUS=", want: Report{HasStatus: true}},
		{in: "STOPPING=1\nWATCHDOG=1", want: Report{Stopping: true, Watchdog: true}},
		{in: "FUTURE=1", want: Report{}},
		{in: "READY=2", wantErr: true},
		{in: "READY=true", wantErr: true},
		{in: "DONE=0", wantErr: true},
		{in: "STOPPING=", wantErr: true},
		{in: "WATCHDOG=trigger", wantErr: true},
		{in: "SLOTS=4", wantErr: true},
		{in: "READY=1\nSLOTS=0", wantErr: true},
		{in: "READY=1\nSLOTS=007", wantErr: true},
		{in: "READY=1\nSLOTS=+4", wantErr: true},
		{in: "READY=1\nSLOTS=65537", wantErr: true},
		{in: "ID=1", wantErr: true},
		{in: "DONE=1\nID=0", wantErr: true},
		{in: "DONE=1\nID=18446744073709551616", wantErr: true},
		{in: "DONE=1\nID=-1", wantErr: true},
		// Requests (section 4, "Requests").
		{in: "REQUESTS=3", want: Report{Requests: 3}},
		{in: "DONE=1\nID=2\nREQUESTS=4294967296", want: Report{Done: true, ID: 2, Requests: MaxRequests}},
		{in: "ACTIVE=0", want: Report{HasActive: true}},
		{in: "REQUESTS=1\nACTIVE=2\nACTIVE_ID=7\nACTIVE_USEC=1500000",
			want: Report{Requests: 1, HasActive: true, Active: 2, ActiveID: 7, ActiveFor: 1500 * time.Millisecond}},
		{in: "ACTIVE=1\nACTIVE_ID=7\nACTIVE_USEC=0", want: Report{HasActive: true, Active: 1, ActiveID: 7}},
		{in: "REQUESTS=0", wantErr: true},
		{in: "REQUESTS=4294967297", wantErr: true},
		{in: "ACTIVE=00", wantErr: true},
		{in: "ACTIVE=65537", wantErr: true},
		{in: "ACTIVE=1\nACTIVE_ID=7", wantErr: true},
		{in: "ACTIVE=1\nACTIVE_USEC=7", wantErr: true},
		{in: "ACTIVE=0\nACTIVE_ID=7\nACTIVE_USEC=1", wantErr: true},
		{in: "ACTIVE_ID=7\nACTIVE_USEC=1", wantErr: true},
		{in: "ACTIVE=1\nACTIVE_ID=0\nACTIVE_USEC=1", wantErr: true},
		{in: "ACTIVE=1\nACTIVE_ID=1\nACTIVE_USEC=-1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			m, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseReport(m)
			if tt.wantErr {
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("got %+v, %v; want ErrProtocol", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseHandoff(t *testing.T) {
	tests := []struct {
		in      string
		want    Handoff
		wantErr bool
	}{
		{in: "CONN=1\nID=7\nLISTENER=unix:blog.sock\nPEER=", want: Handoff{ID: 7, Listener: "unix:blog.sock"}},
		{in: "PEER=[::1]:5000\nLISTENER=x\nID=1\nCONN=1\nNEW=ignored", want: Handoff{ID: 1, Listener: "x", Peer: "[::1]:5000"}},
		{in: "CONN=2\nID=7\nLISTENER=x\nPEER=", wantErr: true},
		{in: "CONN=1\nLISTENER=x\nPEER=", wantErr: true},
		{in: "CONN=1\nID=0\nLISTENER=x\nPEER=", wantErr: true},
		{in: "CONN=1\nID=07\nLISTENER=x\nPEER=", wantErr: true},
		{in: "CONN=1\nID=7\nPEER=", wantErr: true},
		{in: "CONN=1\nID=7\nLISTENER=x", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			m, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !IsHandoff(m) {
				t.Fatal("IsHandoff = false")
			}
			got, err := ParseHandoff(m)
			if tt.wantErr {
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("got %+v, %v; want ErrProtocol", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// FuzzParse: Parse never panics; whatever it accepts formats back to the
// same bytes (give or take the final newline) and parses again to the same
// Message; the typed parsers never panic and round-trip too.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"READY=1\nSLOTS=4\n", "DONE=1\nID=17", "STATUS=café", "CONN=1\nID=1\nLISTENER=x\nPEER=[::1]:80\n",
		"STOPPING=1\nWATCHDOG=1\n", "=", "A=\n\n", "A=1\nA=2", "\xff=1", "READY=1\r\n", "X=" + strings.Repeat("y", 4100),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error does not wrap ErrProtocol: %v", err)
			}
			return
		}
		out, err := m.Format()
		if err != nil {
			t.Fatalf("Format of a parsed message: %v", err)
		}
		if !bytes.Equal(out, b) && !bytes.Equal(out, append(b, '\n')) {
			t.Fatalf("Format(Parse(%q)) = %q", b, out)
		}
		m2, err := Parse(out)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(m, m2); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}

		if r, err := ParseReport(m); err == nil {
			if rm := r.Message(); len(rm) > 0 {
				r2 := mustReparse(t, rm, ParseReport)
				if r2 != r {
					t.Fatalf("report round trip: %+v, then %+v", r, r2)
				}
			}
		} else if !errors.Is(err, ErrProtocol) {
			t.Fatal(err)
		}
		if h, err := ParseHandoff(m); err == nil {
			if h2 := mustReparse(t, h.Message(), ParseHandoff); h2 != h {
				t.Fatalf("handoff round trip: %+v, then %+v", h, h2)
			}
		} else if !errors.Is(err, ErrProtocol) {
			t.Fatal(err)
		}
	})
}

func mustReparse[T any](t *testing.T, m Message, parse func(Message) (T, error)) T {
	t.Helper()
	b, err := m.Format()
	if err != nil {
		t.Fatalf("Format(%q): %v", m, err)
	}
	m2, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse(%q): %v", b, err)
	}
	v, err := parse(m2)
	if err != nil {
		t.Fatalf("reparse %q: %v", b, err)
	}
	return v
}

func TestValidValue(t *testing.T) {
	for v, want := range map[string]bool{
		"": true, "127.0.0.1:5000": true, "/run/zsm/é.sock": true,
		"a\nb": false, "tab\there": false, "del\x7f": false, "\xff": false,
	} {
		if got := ValidValue(v); got != want {
			t.Errorf("ValidValue(%q) = %v, want %v", v, got, want)
		}
	}
}
