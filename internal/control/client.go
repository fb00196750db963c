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
	"slices"
	"strings"

	"github.com/zsm-dev/zsm/internal/status"
)

// ErrNotRunning means no broker answers on the site's control socket.
var ErrNotRunning = errors.New("control: no broker is running for the site")

// Client drives one site's broker through its control socket. It is a
// Controller.
type Client struct {
	Site string
	path string
}

// NewClient returns a client for site's broker under runtimeDir. It
// connects per request.
func NewClient(runtimeDir, site string) *Client {
	return &Client{Site: site, path: Path(runtimeDir, site)}
}

// Status asks for the site's state.
func (c *Client) Status(ctx context.Context) (status.Site, error) {
	var st status.Site
	answer, err := c.request(ctx, cmdStatus)
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal([]byte(answer), &st); err != nil {
		return st, fmt.Errorf("control: the broker's status: %w", err)
	}
	return st, nil
}

// Reload asks for a reload and waits for its outcome.
func (c *Client) Reload(ctx context.Context) error {
	_, err := c.request(ctx, cmdReload)
	return err
}

// ReloadAsync asks for a reload and returns once it is asked for.
func (c *Client) ReloadAsync(ctx context.Context) error {
	_, err := c.request(ctx, cmdReloadAsync)
	return err
}

// SetPool asks the broker to resize its pool.
func (c *Client) SetPool(ctx context.Context, minIdle, max int) error {
	_, err := c.request(ctx, fmt.Sprintf("%s %d %d", cmdSetPool, minIdle, max))
	return err
}

// Drain asks the broker to stop its workers gracefully.
func (c *Client) Drain(ctx context.Context) error {
	_, err := c.request(ctx, cmdDrain)
	return err
}

// request sends one request and returns what follows the answer's OK.
func (c *Client) request(ctx context.Context, req string) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.path)
	if err != nil {
		return "", fmt.Errorf("%w (%v)", ErrNotRunning, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if _, err := fmt.Fprintln(conn, req); err != nil {
		return "", fmt.Errorf("control: %w", err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("control: the broker did not answer: %w", err)
	}
	line = strings.TrimSuffix(line, "\n")
	if msg, ok := strings.CutPrefix(line, "ERROR "); ok {
		return "", errors.New(msg)
	}
	if line == "OK" {
		return "", nil
	}
	if rest, ok := strings.CutPrefix(line, "OK "); ok {
		return rest, nil
	}
	return "", fmt.Errorf("control: unexpected answer %q", line)
}

// Sites names the sites with a control socket under runtimeDir, sorted:
// running brokers, and the stale sockets of brokers that died.
func Sites(runtimeDir string) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(runtimeDir, "zsm", "*.control"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range paths {
		if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSocket != 0 {
			names = append(names, strings.TrimSuffix(filepath.Base(p), ".control"))
		}
	}
	slices.Sort(names)
	return names, nil
}

// List returns the status of every site with a broker under runtimeDir,
// sorted by name. A socket nobody listens on (a broker that died) is left
// out; a broker that fails to answer is listed with state "unknown" and
// the error.
func List(ctx context.Context, runtimeDir string) ([]status.Site, error) {
	names, err := Sites(runtimeDir)
	if err != nil {
		return nil, err
	}
	var out []status.Site
	for _, n := range names {
		st, err := NewClient(runtimeDir, n).Status(ctx)
		if errors.Is(err, ErrNotRunning) {
			continue // a broker that died left its socket
		}
		if err != nil {
			st = status.Site{Site: n, State: "unknown", LastError: err.Error()}
		}
		out = append(out, st)
	}
	return out, nil
}
