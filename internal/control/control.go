// Package control is the broker's local control socket: how `zsm reload`
// (the units' ExecReload=) asks a running broker to reload and waits for the
// outcome. One request per connection, one line each way:
//
//	> RELOAD             (or RELOAD-ASYNC: answer once the reload is asked for)
//	< OK
//	< ERROR the reason, on one line
//
// The socket is $XDG_RUNTIME_DIR/zsm/SITE.control, mode 0600 in a 0700
// directory: only the user who runs the broker may use it.
package control

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/sockets"
)

// Path is the control socket of site under runtimeDir.
func Path(runtimeDir, site string) string {
	return filepath.Join(runtimeDir, "zsm", site+".control")
}

// Commands.
const (
	Reload      = "RELOAD"       // reload and answer with the outcome
	ReloadAsync = "RELOAD-ASYNC" // start a reload and answer at once
)

// Handler carries out a command; a nil error answers OK.
type Handler func(ctx context.Context, cmd string) error

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

// Serve answers requests with h until ctx is done, then closes the socket
// and removes its file. It returns once every request it took is answered.
func (s *Server) Serve(ctx context.Context, h Handler) {
	go func() {
		<-ctx.Done()
		s.ln.Close()
	}()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			break
		}
		s.wg.Go(func() { serveConn(ctx, c, h) })
	}
	s.wg.Wait()
	s.set.Close()
}

func serveConn(ctx context.Context, c net.Conn, h Handler) {
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return
	}
	c.SetReadDeadline(time.Time{})
	cmd := strings.TrimSpace(line)
	var answer string
	switch err := h(ctx, cmd); {
	case err == nil:
		answer = "OK"
	default:
		answer = "ERROR " + strings.ReplaceAll(err.Error(), "\n", " | ")
	}
	fmt.Fprintln(c, answer)
}

// ErrNotRunning means no broker answers on the site's control socket.
var ErrNotRunning = errors.New("control: no broker is running for the site")

// Request sends cmd to site's broker and waits for its answer.
func Request(ctx context.Context, runtimeDir, site, cmd string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", Path(runtimeDir, site))
	if err != nil {
		return fmt.Errorf("%w (%v)", ErrNotRunning, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if _, err := fmt.Fprintln(c, cmd); err != nil {
		return fmt.Errorf("control: %w", err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("control: the broker did not answer: %w", err)
	}
	line = strings.TrimSpace(line)
	if msg, ok := strings.CutPrefix(line, "ERROR "); ok {
		return errors.New(msg)
	}
	if line != "OK" {
		return fmt.Errorf("control: unexpected answer %q", line)
	}
	return nil
}
