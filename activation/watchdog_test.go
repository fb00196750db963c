package activation

import (
	"testing"
	"time"
)

func TestWatchdogInterval(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		mode Mode
		want time.Duration
	}{
		{"none", map[string]string{}, ModeSystemd, 0},
		{"systemd", map[string]string{"WATCHDOG_USEC": "30000000"}, ModeSystemd, 30 * time.Second},
		{"systemd, this pid", map[string]string{"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "42"}, ModeSystemd, time.Second},
		{"systemd, another pid", map[string]string{"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "41"}, ModeSystemd, 0},
		{"handoff", map[string]string{"ZSM_WATCHDOG_USEC": "500000"}, ModeHandoff, 500 * time.Millisecond},
		{"handoff ignores systemd's", map[string]string{"WATCHDOG_USEC": "500000"}, ModeHandoff, 0},
		{"garbage", map[string]string{"WATCHDOG_USEC": "soon"}, ModeSystemd, 0},
		{"zero", map[string]string{"WATCHDOG_USEC": "0"}, ModeStandalone, 0},
	}
	for _, tt := range tests {
		env := map[string]string{}
		for k, v := range tt.env {
			env[k] = v
		}
		if got := watchdogInterval(fakeEnv(env, 42), tt.mode); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
		for _, k := range []string{"WATCHDOG_USEC", "WATCHDOG_PID", "ZSM_WATCHDOG_USEC"} {
			if _, left := env[k]; left && tt.mode != ModeHandoff {
				t.Errorf("%s: %s left in the environment", tt.name, k)
			}
		}
	}
}
