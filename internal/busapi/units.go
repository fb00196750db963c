package busapi

import (
	"context"
	"errors"
	"fmt"
	"strings"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"

	"github.com/zsm-dev/zsm/internal/status"
)

// The user's systemd manager on the session bus: org.freedesktop.systemd1(5),
// https://www.freedesktop.org/software/systemd/man/latest/org.freedesktop.systemd1.html
const (
	systemdName   = "org.freedesktop.systemd1"
	systemdPath   = "/org/freedesktop/systemd1"
	managerIface  = "org.freedesktop.systemd1.Manager"
	unitIface     = "org.freedesktop.systemd1.Unit"
	socketIface   = "org.freedesktop.systemd1.Socket"
	socketPattern = "zsm@*.socket"
)

// ErrNoManager means that no systemd user manager answers on the bus: a
// host without systemd, or a session bus of its own.
var ErrNoManager = errors.New("busapi: no systemd user manager on the bus")

// SocketUnit is a site's socket unit, zsm@SITE.socket, as the user's systemd
// manager has it.
type SocketUnit struct {
	Site        string   // SITE, the unit's instance
	ActiveState string   // active, failed, inactive, activating, deactivating
	SubState    string   // listening (no broker), running (a broker runs), failed, dead, ...
	Result      string   // success, or why it failed: resources, trigger-limit-hit, ...
	Listen      []string // its addresses, as systemd says them: 127.0.0.1:8080, /run/user/1000/blog.sock
	// InvocationID names the unit's last start in the journal
	// (USER_INVOCATION_ID=); set for a failed unit.
	InvocationID string
}

// SocketUnits lists the site sockets the user manager has loaded: every
// zsm@SITE.socket that is started, failed, or enabled (enabled sockets are
// loaded through sockets.target, started or not). The template zsm@.socket
// is left out. It returns ErrNoManager when no manager is on the bus.
func SocketUnits(ctx context.Context, conn *dbus.Conn) ([]SocketUnit, error) {
	return socketUnits(ctx, conn, "ListUnitsByPatterns", []string{}, []string{socketPattern})
}

// SiteSocket returns the socket unit of one site, and false if the user
// manager has not loaded it (not enabled, not started, or no such site).
func SiteSocket(ctx context.Context, conn *dbus.Conn, site string) (SocketUnit, bool, error) {
	units, err := socketUnits(ctx, conn, "ListUnitsByNames", []string{"zsm@" + site + ".socket"})
	if err != nil || len(units) == 0 {
		return SocketUnit{}, false, err
	}
	return units[0], true, nil
}

// socketUnits calls the manager's method with args and reads the site
// sockets of its answer.
func socketUnits(ctx context.Context, conn *dbus.Conn, method string, args ...any) ([]SocketUnit, error) {
	var owned bool
	if err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, systemdName).Store(&owned); err != nil {
		return nil, fmt.Errorf("busapi: %w", err)
	}
	if !owned {
		return nil, ErrNoManager
	}
	var listed []sddbus.UnitStatus
	manager := conn.Object(systemdName, systemdPath)
	if err := manager.CallWithContext(ctx, managerIface+"."+method, 0, args...).Store(&listed); err != nil {
		return nil, fmt.Errorf("busapi: %s: %w", method, err)
	}
	var out []SocketUnit
	for _, u := range listed {
		site, ok := strings.CutPrefix(u.Name, "zsm@")
		site, ok2 := strings.CutSuffix(site, ".socket")
		if !ok || !ok2 || site == "" || u.LoadState != "loaded" {
			continue
		}
		su, keep, err := readSocket(ctx, conn.Object(systemdName, u.Path), site, u)
		if err != nil {
			return nil, fmt.Errorf("busapi: %s: %w", u.Name, err)
		}
		if keep {
			out = append(out, su)
		}
	}
	return out, nil
}

// readSocket reads what status needs of one socket unit; keep is false for
// a socket that is neither started, failed nor enabled (one systemd keeps
// loaded after it was disabled).
func readSocket(ctx context.Context, obj dbus.BusObject, site string, u sddbus.UnitStatus) (su SocketUnit, keep bool, err error) {
	su = SocketUnit{Site: site, ActiveState: u.ActiveState, SubState: u.SubState}
	get := func(iface, name string, v any) error {
		var val dbus.Variant
		if err := obj.CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0, iface, name).Store(&val); err != nil {
			return err
		}
		return dbus.Store([]any{val.Value()}, v)
	}
	if u.ActiveState == "inactive" {
		var state string
		if err := get(unitIface, "UnitFileState", &state); err != nil {
			return su, false, err
		}
		if state != "enabled" && state != "enabled-runtime" {
			return su, false, nil
		}
	}
	var listen []struct{ Type, Address string }
	if err := get(socketIface, "Listen", &listen); err != nil {
		return su, false, err
	}
	for _, l := range listen {
		a := l.Address
		if l.Type != "Stream" {
			a += " (" + l.Type + ")"
		}
		su.Listen = append(su.Listen, a)
	}
	if err := get(socketIface, "Result", &su.Result); err != nil {
		return su, false, err
	}
	if u.ActiveState == "failed" {
		var id []byte
		if err := get(unitIface, "InvocationID", &id); err != nil {
			return su, false, err
		}
		su.InvocationID = fmt.Sprintf("%x", id)
	}
	return su, true, nil
}

// Status is the site as `zsm status` shows it when no broker answers for
// it: idle when systemd listens; socket-failed with why, in LastError
// (systemd's Result, then reason, what the journal says of the failure,
// when not empty); socket-inactive when enabled but not started. A socket
// whose broker runs (SubState running) but did not answer is "unknown".
func (u SocketUnit) Status(reason string) status.Site {
	s := status.Site{Site: u.Site, Listen: u.Listen}
	switch {
	case u.ActiveState == "failed":
		s.State = status.StateSocketFailed
		s.LastError = "socket failed: " + u.Result
		if reason != "" {
			s.LastError += ": " + reason
		}
	case u.ActiveState == "active" && u.SubState == "listening":
		s.State = status.StateIdle
	case u.ActiveState == "active":
		s.State = "unknown"
		s.LastError = fmt.Sprintf("zsm@%s.service runs but its broker does not answer on its control socket", u.Site)
	default:
		s.State = status.StateSocketInactive
	}
	return s
}
