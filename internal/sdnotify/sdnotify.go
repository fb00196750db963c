package sdnotify

import (
	"os"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notifier sends sd_notify messages. The zero value and nil do nothing.
type Notifier struct {
	enabled bool
}

// New returns a Notifier when the process runs under a service manager
// that listens, else nil.
func New() *Notifier {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return nil
	}
	return &Notifier{enabled: true}
}

// Notify sends state, e.g. "READY=1\nSTATUS=3 workers".
func (n *Notifier) Notify(state string) error {
	if n == nil || !n.enabled {
		return nil
	}
	_, err := daemon.SdNotify(false, state)
	return err
}
