package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Targets: what a client talks to.
const (
	targetDirect  = "direct"         // hello binds its own port
	targetHandoff = "handoff"        // zsm serve, mode handoff
	targetListen  = "listen"         // zsm serve, mode listen
	targetProxy   = "proxy"          // zsm serve, mode proxy, one backend
	targetHAProxy = "haproxy"        // haproxy, mode tcp, nbthread 1, before a direct hello
	targetSplice  = "haproxy-splice" // the same, splicing both ways as zsm's proxy does
	targetProxyd  = "socket-proxyd"  // systemd-socket-proxyd before a direct hello
	targetNginx   = "nginx"          // nginx, http reverse proxy with keepalive upstreams, 1 worker, before a direct hello
	// Four workers: four hello processes sharing one port (SO_REUSEPORT),
	// and zsm with a pool of four.
	targetDirect4  = "direct-4"
	targetHandoff4 = "handoff-4"
	targetListen4  = "listen-4"
)

// allTargets in the order tables show them.
var allTargets = []string{targetDirect, targetHandoff, targetListen, targetProxy, targetHAProxy, targetSplice, targetProxyd, targetNginx,
	targetDirect4, targetHandoff4, targetListen4}

// fourWorkers is how many processes the -4 targets run.
const fourWorkers = 4

// directOf is the target t is compared with in the "× direct" column:
// the same number of app processes serving directly.
func directOf(t string) string {
	if strings.HasSuffix(t, "-4") {
		return targetDirect4
	}
	return targetDirect
}

// isZSM reports whether target is a zsm mode.
func isZSM(target string) bool {
	switch strings.TrimSuffix(target, "-4") {
	case targetHandoff, targetListen, targetProxy:
		return true
	}
	return false
}

// isPeer reports whether target is another program than zsm and hello.
func isPeer(target string) bool {
	return target == targetHAProxy || target == targetSplice || target == targetProxyd || target == targetNginx
}

// siteName is the name of every site the bench runs with zsm serve: each
// broker has a runtime dir of its own.
const siteName = "bench"

// readyTimeout bounds how long a server may take to serve its first request.
const readyTimeout = 60 * time.Second

// A server is one target, running: clients connect to addr.
type server struct {
	target string
	addr   string   // 127.0.0.1:PORT
	main   *process // the measured process: the broker, the proxy, or hello
	procs  []*process
	// For zsm targets: the runtime dir (zsm reload needs it) and the CPU
	// profile the broker was asked to write ("" without -pprof).
	runtimeDir string
	profile    string
}

// site describes a zsm site to run.
type site struct {
	mode    string // handoff, listen or proxy
	workers int    // pool min_idle and max (not in proxy mode)
	eager   bool
	slots   int // hello -slots (handoff)
	maxconn int // backend maxconn (proxy; 0: the default, the backend's listen backlog)
	label   string
}

// startTarget starts target for the scenario part label (used to name
// profiles) and waits until it serves.
func (l *lab) startTarget(ctx context.Context, target, label string) (*server, error) {
	switch target {
	case targetDirect:
		return l.startDirect(ctx)
	case targetDirect4:
		return l.startDirectN(ctx, fourWorkers)
	case targetHandoff, targetListen, targetProxy:
		return l.startZSM(ctx, site{mode: target, workers: 1, label: label})
	case targetHandoff4, targetListen4:
		s, err := l.startZSM(ctx, site{mode: strings.TrimSuffix(target, "-4"), workers: fourWorkers, label: label})
		if s != nil {
			s.target = target
		}
		return s, err
	case targetHAProxy, targetSplice:
		return l.startHAProxy(ctx, target)
	case targetProxyd:
		return l.startProxyd(ctx)
	case targetNginx:
		return l.startNginx(ctx)
	}
	return nil, fmt.Errorf("unknown target %q", target)
}

// stopServer stops every process of s, newest first.
func (l *lab) stopServer(s *server) error {
	var first error
	for i := len(s.procs) - 1; i >= 0; i-- {
		if err := l.stop(s.procs[i]); err != nil && first == nil {
			first = err
		}
	}
	if s.profile != "" {
		if _, err := os.Stat(s.profile); err != nil {
			fmt.Fprintf(l.log, "  no CPU profile at %s: the broker does not honour ZSM_CPUPROFILE\n", s.profile)
		} else {
			fmt.Fprintf(l.log, "  CPU profile of the broker: %s (go tool pprof -top %s)\n", s.profile, s.profile)
		}
	}
	return first
}

// startDirect runs hello binding its own port.
func (l *lab) startDirect(ctx context.Context) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p, err := l.start("hello-direct", []string{l.binary("hello"), "-addr", addr}, l.env(), syscall.SIGKILL)
	if err != nil {
		return nil, err
	}
	s := &server{target: targetDirect, addr: addr, main: p, procs: []*process{p}}
	return s, l.waitServing(ctx, s)
}

// startDirectN runs n hello processes sharing one port (SO_REUSEPORT): the
// kernel spreads the connections among them.
func (l *lab) startDirectN(ctx context.Context, n int) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	s := &server{target: targetDirect4, addr: addr}
	for range n {
		p, err := l.start("hello-direct", []string{l.binary("hello"), "-addr", addr, "-reuseport"}, l.env(), syscall.SIGKILL)
		if err != nil {
			return nil, l.failStart(s, err)
		}
		s.procs = append(s.procs, p)
	}
	s.main = s.procs[0]
	return s, l.waitServing(ctx, s)
}

// startZSM runs `zsm serve --site bench --config F` bound to its own
// socket, with a runtime dir of its own.
func (l *lab) startZSM(ctx context.Context, st site) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cfg, err := l.siteConfig(st, addr)
	if err != nil {
		return nil, err
	}
	path := l.path("site-"+st.mode, ".hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	rt := l.path("rt", "")
	if err := os.Mkdir(rt, 0o700); err != nil {
		return nil, fmt.Errorf("runtime dir: %w", err)
	}
	env := l.env("XDG_RUNTIME_DIR=" + rt)
	s := &server{target: st.mode, addr: addr, runtimeDir: rt}
	if l.opts.pprofDir != "" {
		s.profile = filepath.Join(l.opts.pprofDir, sanitize(st.label)+".pprof")
		env = append(env, "ZSM_CPUPROFILE="+s.profile)
	}
	// SIGTERM: the broker stops its workers before it exits.
	p, err := l.start("zsm-"+st.mode, []string{l.binary("zsm"), "serve", "--site", siteName, "--config", path}, env, syscall.SIGTERM)
	if err != nil {
		return nil, err
	}
	s.main, s.procs = p, []*process{p}
	return s, l.waitServing(ctx, s)
}

// siteConfig is the HCL of one site serving hello on addr.
func (l *lab) siteConfig(st site, addr string) (string, error) {
	hello := l.binary("hello")
	var b strings.Builder
	if st.mode == targetProxy {
		// One instance, and a spare port for the next one: a reload
		// starts it before the running one stops.
		var ports []int
		for range 2 {
			port, err := freePort()
			if err != nil {
				return "", err
			}
			ports = append(ports, port)
		}
		writeSite(&b, siteName, addr, st.mode, st.eager, []string{hello, "-addr", "127.0.0.1:{port}"}, &backend{ports, st.maxconn},
			"queue     = 1024\n    idle_stop = \"0s\"")
		return b.String(), nil
	}
	slots := st.slots
	if slots == 0 {
		slots = 64
	}
	w := max(st.workers, 1)
	writeSite(&b, siteName, addr, st.mode, st.eager, []string{hello, "-slots", strconv.Itoa(slots)}, nil,
		fmt.Sprintf("min_idle  = %d\n    max       = %d\n    queue     = 1024\n    idle_stop = \"0s\"", w, w))
	return b.String(), nil
}

// writeSite writes the HCL of one site: command is the app's argv (in
// proxy mode with {port}, and be its backend), pool the body of its pool
// block ("" for none).
func writeSite(b *strings.Builder, name, addr, mode string, eager bool, command []string, be *backend, pool string) {
	fmt.Fprintf(b, "site %q {\n  listen   = [%q]\n  mode     = %q\n  protocol = \"http\"\n", name, addr, mode)
	if eager {
		fmt.Fprintf(b, "  eager    = true\n")
	}
	quoted := make([]string, len(command))
	for i, a := range command {
		quoted[i] = strconv.Quote(a)
	}
	fmt.Fprintf(b, "  command  = [%s]\n", strings.Join(quoted, ", "))
	if mode == targetProxy {
		ports := make([]string, len(be.ports))
		for i, p := range be.ports {
			ports[i] = strconv.Itoa(p)
		}
		fmt.Fprintf(b, "  backend {\n    address   = \"127.0.0.1:{port}\"\n    ports     = %q\n    instances = 1\n", strings.Join(ports, ","))
		if be.maxconn > 0 {
			fmt.Fprintf(b, "    maxconn   = %d\n", be.maxconn)
		}
		b.WriteString("  }\n")
	}
	if pool != "" {
		fmt.Fprintf(b, "  pool {\n    %s\n  }\n", pool)
	}
	fmt.Fprintf(b, "  timeouts {\n    stop = \"10s\"\n  }\n}\n")
}

// backend is a proxy site's backend block: its ports (one instance, the
// others spares) and maxconn (0: not written, the default).
type backend struct {
	ports   []int
	maxconn int
}

// startHAProxy runs haproxy (mode tcp, one thread) before a direct hello;
// as targetSplice it splices both ways, as zsm's proxy mode does (by
// default haproxy copies through its buffers).
func (l *lab) startHAProxy(ctx context.Context, target string) (*server, error) {
	backend, addr, err := l.startBackend(ctx)
	if err != nil {
		return nil, err
	}
	options := ""
	if target == targetSplice {
		options = "  option splice-request\n  option splice-response\n"
	}
	cfg := l.path(target, ".cfg")
	err = os.WriteFile(cfg, []byte(fmt.Sprintf(`global
  maxconn 4096
  nbthread 1
defaults
  mode tcp
%s  timeout connect 5s
  timeout client 60s
  timeout server 60s
listen bench
  bind %s
  server app %s
`, options, addr, backend.addr)), 0o600)
	if err != nil {
		return nil, l.failStart(backend, err)
	}
	p, err := l.start(target, []string{"haproxy", "-db", "-f", cfg}, l.env(), syscall.SIGKILL)
	if err != nil {
		return nil, l.failStart(backend, err)
	}
	s := &server{target: target, addr: addr, main: p, procs: []*process{backend.main, p}}
	return s, l.waitServing(ctx, s)
}

// startNginx runs nginx before a direct hello the way users put it in
// front of app servers: an http reverse proxy whose upstream connections
// are kept alive (proxy_http_version 1.1, an empty Connection header,
// keepalive in the upstream), one process (master_process off: the one
// worker is the measured process).
func (l *lab) startNginx(ctx context.Context) (*server, error) {
	backend, addr, err := l.startBackend(ctx)
	if err != nil {
		return nil, err
	}
	dir := l.path("nginx", "")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, l.failStart(backend, err)
	}
	user := ""
	if isRoot() {
		user = "user root;" // its temporary files live in the bench's directory
	}
	cfg := filepath.Join(dir, "nginx.conf")
	err = os.WriteFile(cfg, []byte(fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
%[4]s
pid %[1]s/nginx.pid;
error_log stderr error;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  upstream app {
    server %[3]s;
    keepalive 64;
  }
  server {
    listen %[2]s;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`, dir, addr, backend.addr, user)), 0o600)
	if err != nil {
		return nil, l.failStart(backend, err)
	}
	p, err := l.start(targetNginx, []string{"nginx", "-e", "stderr", "-p", dir, "-c", cfg}, l.env(), syscall.SIGKILL)
	if err != nil {
		return nil, l.failStart(backend, err)
	}
	s := &server{target: targetNginx, addr: addr, main: p, procs: []*process{backend.main, p}}
	return s, l.waitServing(ctx, s)
}

// proxydPath is systemd's socket proxy.
const proxydPath = "/usr/lib/systemd/systemd-socket-proxyd"

// startProxyd runs systemd-socket-proxyd, socket-activated by
// systemd-socket-activate, before a direct hello.
func (l *lab) startProxyd(ctx context.Context) (*server, error) {
	backend, addr, err := l.startBackend(ctx)
	if err != nil {
		return nil, err
	}
	p, err := l.start("socket-proxyd", []string{"systemd-socket-activate", "-l", addr,
		proxydPath, "--connections-max=30000", backend.addr}, l.env(), syscall.SIGKILL)
	if err != nil {
		return nil, l.failStart(backend, err)
	}
	s := &server{target: targetProxyd, addr: addr, main: p, procs: []*process{backend.main, p}}
	return s, l.waitServing(ctx, s)
}

// startBackend starts the direct app that a peer forwards to, and picks
// the peer's own address.
func (l *lab) startBackend(ctx context.Context) (*server, string, error) {
	backend, err := l.startDirect(ctx)
	if err != nil {
		return nil, "", err
	}
	port, err := freePort()
	if err != nil {
		return nil, "", l.failStart(backend, err)
	}
	return backend, "127.0.0.1:" + strconv.Itoa(port), nil
}

// failStart stops what a half-started server started and returns err.
func (l *lab) failStart(s *server, err error) error {
	l.stopServer(s)
	return err
}

// waitServing waits until s answers GET / with 200. On failure it stops s.
func (l *lab) waitServing(ctx context.Context, s *server) error {
	err := eventually(ctx, readyTimeout, s.target+" at "+s.addr+" to serve", func() (bool, error) {
		for _, p := range s.procs {
			if p.exited() {
				return false, p.exitError()
			}
		}
		code, err := get(s.addr)
		return err == nil && code == http.StatusOK, nil
	})
	if err != nil {
		l.stopServer(s)
		return fmt.Errorf("starting %s: %w", s.target, err)
	}
	return nil
}

// get makes one GET / on a new connection and returns the status.
func get(addr string) (int, error) {
	c, err := net.DialTimeout("tcp", addr, opTimeout)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(opTimeout))
	if _, err := c.Write(requestClose); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
