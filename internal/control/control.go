package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/sockets"
	"github.com/zsm-dev/zsm/internal/status"
)

// Controller drives one site's broker.
type Controller interface {
	// Status returns the site's state.
	Status(ctx context.Context) (status.Site, error)
	// Reload re-reads the configuration and replaces the workers without
	// refusing a connection; it returns once done, or failed.
	Reload(ctx context.Context) error
	// SetPool changes min_idle and max until the next reload.
	SetPool(ctx context.Context, minIdle, max int) error
	// Drain stops every worker gracefully; the next connection starts
	// the pool again.
	Drain(ctx context.Context) error
}

// Path is the control socket of site under runtimeDir.
func Path(runtimeDir, site string) string {
	return filepath.Join(runtimeDir, "zsm", site+".control")
}

// Commands of the protocol.
const (
	cmdStatus      = "STATUS"
	cmdReload      = "RELOAD"
	cmdReloadAsync = "RELOAD-ASYNC"
	cmdSetPool     = "SET-POOL"
	cmdDrain       = "DRAIN"
)

// Server serves a control socket.
type Server struct {
	set *sockets.Set
	ln  net.Listener
	wg  sync.WaitGroup
}

// Listen binds site's control socket, replacing a stale one; a live one
// (another broker for the site) is an error.
func Listen(runtimeDir, site string) (*Server, error) {
	path := Path(runtimeDir, site)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	s := &config.Site{Name: site, Listen: []config.Address{{Net: config.NetUnix, Path: path}}}
	set, err := sockets.Bind(s, runtimeDir)
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	ln, err := net.FileListener(set.Sockets[0].File)
	if err != nil {
		set.Close()
		return nil, fmt.Errorf("control: %w", err)
	}
	return &Server{set: set, ln: ln}, nil
}

// Serve answers requests with c until ctx is done, then closes the socket
// and removes its file. It returns once every request it took is
// answered and every reload it started has returned.
func (s *Server) Serve(ctx context.Context, c Controller) {
	stop := context.AfterFunc(ctx, func() { s.ln.Close() })
	defer stop()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			break
		}
		s.wg.Go(func() { s.serveConn(ctx, conn, c) })
	}
	s.wg.Wait()
	s.set.Close()
}

func (s *Server) serveConn(ctx context.Context, conn net.Conn, c Controller) {
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return
	}
	conn.SetReadDeadline(time.Time{})
	answer, err := s.do(ctx, c, strings.Fields(line))
	if err != nil {
		answer = "ERROR " + strings.ReplaceAll(err.Error(), "\n", " | ")
	}
	fmt.Fprintln(conn, answer)
}

// do carries out one request; it returns the answer's line.
func (s *Server) do(ctx context.Context, c Controller, req []string) (string, error) {
	if len(req) == 0 {
		return "", errors.New("empty request")
	}
	switch cmd, args := req[0], req[1:]; {
	case cmd == cmdStatus && len(args) == 0:
		st, err := c.Status(ctx)
		if err != nil {
			return "", err
		}
		b, err := json.Marshal(st)
		return "OK " + string(b), err
	case cmd == cmdReload && len(args) == 0:
		return "OK", c.Reload(ctx)
	case cmd == cmdReloadAsync && len(args) == 0:
		// The broker logs the outcome.
		s.wg.Go(func() { c.Reload(ctx) })
		return "OK", nil
	case cmd == cmdSetPool && len(args) == 2:
		minIdle, err1 := strconv.Atoi(args[0])
		max, err2 := strconv.Atoi(args[1])
		if err1 != nil || err2 != nil {
			return "", fmt.Errorf("%s %s: want two numbers", cmd, strings.Join(args, " "))
		}
		return "OK", c.SetPool(ctx, minIdle, max)
	case cmd == cmdDrain && len(args) == 0:
		return "OK", c.Drain(ctx)
	}
	return "", fmt.Errorf("unknown request %q", strings.Join(req, " "))
}
