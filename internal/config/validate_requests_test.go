package config

import (
	"strings"
	"testing"
	"time"
)

// timeouts.request, slow_log and slow_log_signal: handoff mode only,
// within bounds, and a slow-log signal only with a slow log, never the
// stop signal or KILL.
func TestValidateRequests(t *testing.T) {
	base := func() Site {
		s := Default()
		s.Name, s.Command, s.Directory = "a", []string{"app"}, "/srv"
		s.Listen = []Address{{Net: NetTCP, Host: "127.0.0.1", Port: 8080}}
		return s
	}
	tests := []struct {
		name string
		edit func(*Site)
		want string // "" when valid
	}{
		{"off", func(*Site) {}, ""},
		{"both", func(s *Site) { s.Timeouts.Request, s.SlowLog, s.SlowLogSignal = time.Minute, time.Second, "USR1" }, ""},
		{"listen mode", func(s *Site) { s.Mode, s.Timeouts.Request = Listen, time.Minute }, "timeouts.request applies to mode = \"handoff\""},
		{"slow log in listen mode", func(s *Site) { s.Mode, s.SlowLog = Listen, time.Second }, "slow_log applies to mode = \"handoff\""},
		{"request too short", func(s *Site) { s.Timeouts.Request = time.Millisecond }, "request must be at least 1s"},
		{"signal without slow log", func(s *Site) { s.SlowLogSignal = "USR1" }, "No slow log"},
		{"the stop signal", func(s *Site) { s.SlowLog, s.SlowLogSignal = time.Second, "TERM" }, "cannot be the stop signal"},
		{"KILL", func(s *Site) { s.SlowLog, s.SlowLogSignal = time.Second, "KILL" }, "SIGKILL cannot be caught"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base()
			tt.edit(&s)
			err := s.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate: %v; want %q", err, tt.want)
			}
		})
	}
}
