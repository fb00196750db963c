package busapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
	"github.com/godbus/dbus/v5/prop"

	"github.com/zsm-dev/zsm/internal/control"
	"github.com/zsm-dev/zsm/internal/event"
	"github.com/zsm-dev/zsm/internal/status"
)

// Names of the interface, version 1.
const (
	Interface  = "dev.zsm.Site1"
	NamePrefix = "dev.zsm.Site."
	PathPrefix = "/dev/zsm/Site/"
)

// Interval bounds how often properties are refreshed and PropertiesChanged
// sent.
const Interval = 500 * time.Millisecond

// Names returns the bus name and object path of site.
func Names(site string) (string, dbus.ObjectPath) {
	e := sddbus.PathBusEscape(site)
	return NamePrefix + e, dbus.ObjectPath(PathPrefix + e)
}

// Connect opens the user's session bus: $DBUS_SESSION_BUS_ADDRESS, else
// $XDG_RUNTIME_DIR/bus. It never starts a bus (no dbus-launch).
func Connect() (*dbus.Conn, error) {
	addr := os.Getenv("DBUS_SESSION_BUS_ADDRESS")
	if addr == "" {
		rt := os.Getenv("XDG_RUNTIME_DIR")
		if rt == "" {
			return nil, errors.New("busapi: no session bus (neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR)")
		}
		p := filepath.Join(rt, "bus")
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("busapi: no session bus: %w", err)
		}
		addr = "unix:path=" + p
	}
	return dbus.Connect(addr)
}

// Server is one site's object on the bus.
type Server struct {
	conn  *dbus.Conn
	site  control.Controller
	name  string
	path  dbus.ObjectPath
	props *prop.Properties

	mu   sync.Mutex // guards last
	last map[string]any
}

// Export puts site on conn under its name and path. The caller closes conn
// (which releases the name) after Run returns.
func Export(conn *dbus.Conn, name string, site control.Controller) (*Server, error) {
	busName, path := Names(name)
	s := &Server{conn: conn, site: site, name: name, path: path, last: map[string]any{}}
	st, err := site.Status(context.Background())
	if err != nil {
		return nil, err
	}
	props, err := prop.Export(conn, path, prop.Map{Interface: s.propMap(st)})
	if err != nil {
		return nil, err
	}
	s.props = props
	if err := conn.ExportMethodTable(map[string]any{
		"Reload":  s.reload,
		"SetPool": s.setPool,
		"Drain":   s.drain,
	}, path, Interface); err != nil {
		return nil, err
	}
	node := &introspect.Node{
		Name: string(path),
		Interfaces: []introspect.Interface{
			introspect.IntrospectData,
			prop.IntrospectData,
			{
				Name: Interface,
				Methods: []introspect.Method{
					{Name: "Reload"},
					{Name: "SetPool", Args: []introspect.Arg{{Name: "min_idle", Type: "u", Direction: "in"}, {Name: "max", Type: "u", Direction: "in"}}},
					{Name: "Drain"},
				},
				Signals: []introspect.Signal{
					{Name: "WorkerStarted", Args: []introspect.Arg{{Name: "pid", Type: "u"}}},
					{Name: "WorkerExited", Args: []introspect.Arg{{Name: "pid", Type: "u"}, {Name: "status", Type: "s"}}},
					{Name: "Error", Args: []introspect.Arg{{Name: "message", Type: "s"}}},
				},
				Properties: props.Introspection(Interface),
			},
		},
	}
	if err := conn.Export(introspect.NewIntrospectable(node), path, "org.freedesktop.DBus.Introspectable"); err != nil {
		return nil, err
	}
	reply, err := conn.RequestName(busName, dbus.NameFlagDoNotQueue)
	if err != nil {
		return nil, err
	}
	if reply != dbus.RequestNameReplyPrimaryOwner {
		return nil, fmt.Errorf("busapi: %s is taken: is another broker running the site?", busName)
	}
	return s, nil
}

// propMap turns a status into the property map.
func (s *Server) propMap(st status.Site) map[string]*prop.Prop {
	m := map[string]*prop.Prop{}
	for name, v := range values(st) {
		s.last[name] = v
		m[name] = &prop.Prop{Value: v, Writable: false, Emit: prop.EmitTrue}
	}
	return m
}

// values lists the properties of st by name.
func values(st status.Site) map[string]any {
	workers := st.Workers
	if workers == nil {
		workers = []status.Worker{}
	}
	events := st.Events
	if events == nil {
		events = []status.Event{}
	}
	listeners := st.Listeners
	if listeners == nil {
		listeners = []status.Listener{}
	}
	return map[string]any{
		"Site": st.Site, "Mode": st.Mode, "State": st.State, "Generation": st.Generation,
		"Workers": workers, "Accepted": st.Accepted, "Served": st.Served, "Active": st.Active,
		"Requests": st.Requests, "RequestsPerSec": st.RequestsPerSec,
		"Queued": st.Queued, "Shed": st.Shed, "Failed": st.Failed, "Restarts": st.Restarts,
		"Breaker": st.Breaker, "LastError": st.LastError, "LogDropped": st.LogDropped,
		"Events": events, "Version": st.Version, "Listeners": listeners, "QueueWait": histogram(st.QueueWait),
		"HandoffLatency": histogram(st.HandoffLatency),
	}
}

// histogram is h with empty slices rather than nil ones (listen mode, no
// broker): the property's value compares equal from one refresh to the
// next.
func histogram(h status.Histogram) status.Histogram {
	if h.Bounds == nil {
		h.Bounds, h.Counts = []float64{}, []uint64{}
	}
	return h
}

// Run refreshes the properties every Interval until ctx is done; a
// property that changed is set, which emits PropertiesChanged.
func (s *Server) Run(ctx context.Context) {
	t := time.NewTicker(Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := s.site.Status(ctx)
		if err != nil {
			continue
		}
		s.mu.Lock()
		for name, v := range values(st) {
			if !reflect.DeepEqual(s.last[name], v) {
				s.last[name] = v
				s.props.SetMust(Interface, name, v)
			}
		}
		s.mu.Unlock()
	}
}

// authorize lets only the broker's own user call methods.
func (s *Server) authorize(sender dbus.Sender) *dbus.Error {
	var uid uint32
	err := s.conn.BusObject().Call("org.freedesktop.DBus.GetConnectionUnixUser", 0, string(sender)).Store(&uid)
	if err != nil {
		return dbus.MakeFailedError(err)
	}
	if int(uid) != os.Getuid() {
		return dbus.NewError("org.freedesktop.DBus.Error.AccessDenied", []any{fmt.Sprintf("only uid %d may control this site", os.Getuid())})
	}
	return nil
}

// do runs a method for an authorized caller.
func (s *Server) do(sender dbus.Sender, f func(context.Context) error) *dbus.Error {
	if err := s.authorize(sender); err != nil {
		return err
	}
	if err := f(context.Background()); err != nil {
		return dbus.MakeFailedError(err)
	}
	return nil
}

func (s *Server) reload(sender dbus.Sender) *dbus.Error { return s.do(sender, s.site.Reload) }

func (s *Server) setPool(sender dbus.Sender, minIdle, max uint32) *dbus.Error {
	return s.do(sender, func(ctx context.Context) error { return s.site.SetPool(ctx, int(minIdle), int(max)) })
}

func (s *Server) drain(sender dbus.Sender) *dbus.Error { return s.do(sender, s.site.Drain) }

func (s *Server) emit(signal string, args ...any) {
	s.conn.Emit(s.path, Interface+"."+signal, args...)
}

// Event turns the broker's events into signals: WorkerStarted,
// WorkerExited (for an exit asked for or not), and Error for every event
// of error level. Emitting writes to the bus: put the Server behind an
// event.Queue.
func (s *Server) Event(e event.Event) {
	switch e.Kind {
	case event.WorkerStarted:
		s.emit("WorkerStarted", uint32(e.Pid))
	case event.WorkerExited, event.WorkerCrashed:
		s.emit("WorkerExited", uint32(e.Pid), e.Status)
	}
	if e.Level >= slog.LevelError {
		msg := e.Message
		if e.Err != "" {
			msg += ": " + e.Err
		}
		s.emit("Error", msg)
	}
}

// List returns the status of every site on the bus, in the bus's order.
func List(conn *dbus.Conn) ([]status.Site, error) {
	var names []string
	if err := conn.BusObject().Call("org.freedesktop.DBus.ListNames", 0).Store(&names); err != nil {
		return nil, err
	}
	var out []status.Site
	for _, n := range names {
		if !strings.HasPrefix(n, NamePrefix) {
			continue
		}
		path := dbus.ObjectPath(PathPrefix + strings.TrimPrefix(n, NamePrefix))
		st, err := Get(conn, n, path)
		if err != nil {
			continue // gone meanwhile
		}
		out = append(out, st)
	}
	return out, nil
}

// Get reads one site's properties.
func Get(conn *dbus.Conn, name string, path dbus.ObjectPath) (status.Site, error) {
	var all map[string]dbus.Variant
	if err := conn.Object(name, path).Call("org.freedesktop.DBus.Properties.GetAll", 0, Interface).Store(&all); err != nil {
		return status.Site{}, err
	}
	var st status.Site
	v := reflect.ValueOf(&st).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if pv, ok := all[f.Name]; ok {
			dbus.Store([]any{pv.Value()}, v.Field(i).Addr().Interface())
		}
	}
	return st, nil
}

// Call invokes a method of site's object.
func Call(conn *dbus.Conn, site, method string, args ...any) error {
	name, path := Names(site)
	return conn.Object(name, path).Call(Interface+"."+method, 0, args...).Err
}
