package busapi

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/zsm-dev/zsm/internal/status"
)

// TestSocketUnitStatus: what a site without a broker looks like, from its
// socket unit's states.
func TestSocketUnitStatus(t *testing.T) {
	listen := []string{"127.0.0.1:8080"}
	tests := []struct {
		name   string
		unit   SocketUnit
		reason string
		want   status.Site
	}{
		{"listening", SocketUnit{Site: "a", ActiveState: "active", SubState: "listening", Result: "success", Listen: listen}, "",
			status.Site{Site: "a", State: status.StateIdle, Listen: listen}},
		{"failed, journal read", SocketUnit{Site: "a", ActiveState: "failed", SubState: "failed", Result: "resources", Listen: listen},
			"Failed to create listening socket (127.0.0.1:8080): Address already in use",
			status.Site{Site: "a", State: status.StateSocketFailed, Listen: listen,
				LastError: "socket failed: resources: Failed to create listening socket (127.0.0.1:8080): Address already in use"}},
		{"failed, journal unreadable", SocketUnit{Site: "a", ActiveState: "failed", SubState: "failed", Result: "trigger-limit-hit", Listen: listen}, "",
			status.Site{Site: "a", State: status.StateSocketFailed, Listen: listen, LastError: "socket failed: trigger-limit-hit"}},
		{"enabled, not started", SocketUnit{Site: "a", ActiveState: "inactive", SubState: "dead", Result: "success", Listen: listen}, "",
			status.Site{Site: "a", State: status.StateSocketInactive, Listen: listen}},
		{"a broker that does not answer", SocketUnit{Site: "a", ActiveState: "active", SubState: "running", Listen: listen}, "",
			status.Site{Site: "a", State: "unknown", Listen: listen,
				LastError: "zsm@a.service runs but its broker does not answer on its control socket"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.unit.Status(tt.reason)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if got.Brokerless() != (got.State != "unknown") {
				t.Errorf("Brokerless() = %v for state %s", got.Brokerless(), got.State)
			}
		})
	}
}
