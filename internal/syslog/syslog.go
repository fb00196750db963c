package syslog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/zsm-dev/zsm/internal/lines"
)

// DefaultPath is the syslog socket of Linux and most other systems.
const DefaultPath = "/dev/log"

// Priorities (syslog.h): the daemon facility with a severity.
const (
	facilityDaemon = 3 << 3

	sevErr     = 3
	sevWarning = 4
	sevInfo    = 6
	sevDebug   = 7
)

// Conn is a connection to a syslog socket. It is safe for concurrent use.
// A daemon that restarts makes a send fail once: Conn then dials again.
type Conn struct {
	path string
	pid  int
	now  func() time.Time

	mu sync.Mutex // guards c
	c  net.Conn
}

// Dial connects to the syslog socket at path ([DefaultPath] when empty).
func Dial(path string) (*Conn, error) {
	if path == "" {
		path = DefaultPath
	}
	c := &Conn{path: path, pid: os.Getpid(), now: time.Now}
	if err := c.dialLocked(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Conn) dialLocked() error {
	conn, err := net.Dial("unixgram", c.path)
	if err != nil {
		return fmt.Errorf("syslog: %w", err)
	}
	c.c = conn
	return nil
}

// Close closes the connection.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.c == nil {
		return nil
	}
	err := c.c.Close()
	c.c = nil
	return err
}

// send writes one message with severity sev, tagged tag.
func (c *Conn) send(sev int, tag string, msg []byte) error {
	msg = bytes.TrimRight(msg, "\n")
	line := fmt.Appendf(nil, "<%d>%s %s[%d]: %s", facilityDaemon|sev, c.now().Format(time.Stamp), tag, c.pid, msg)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.c != nil {
		if err := c.writeLocked(line); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		c.c.Close()
		c.c = nil
	}
	if err := c.dialLocked(); err != nil {
		return err
	}
	return c.writeLocked(line)
}

// sendTimeout bounds a send to a syslog daemon that does not read (its
// queue is full): the message is dropped rather than the broker stalled.
const sendTimeout = 100 * time.Millisecond

func (c *Conn) writeLocked(line []byte) error {
	c.c.SetWriteDeadline(time.Now().Add(sendTimeout))
	_, err := c.c.Write(line)
	return err
}

// Handler is a slog.Handler whose records go to syslog tagged tag, as
// "message key=value ...", with the record's level as the severity.
type Handler struct {
	c   *Conn
	tag string
	th  slog.Handler // formats the attributes into out
	out *formatted   // shared by the handlers WithAttrs and WithGroup derive
}

// formatted is where a Handler's text handler writes one record.
type formatted struct {
	mu  sync.Mutex // guards buf, from formatting until sent
	buf bytes.Buffer
}

// NewHandler returns a Handler that sends to c, tagged tag.
func NewHandler(c *Conn, tag string) *Handler {
	out := &formatted{}
	th := slog.NewTextHandler(&out.buf, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
				return slog.Attr{}
			}
			return a
		},
	})
	return &Handler{c: c, tag: tag, th: th, out: out}
}

// Enabled implements slog.Handler: the daemon filters, not us.
func (h *Handler) Enabled(context.Context, slog.Level) bool { return true }

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	h.out.buf.Reset()
	// The message as written, then its attributes: "worker ready pid=42".
	h.out.buf.WriteString(r.Message)
	h.out.buf.WriteByte(' ')
	if err := h.th.Handle(ctx, r); err != nil {
		return err
	}
	return h.c.send(severity(r.Level), h.tag, bytes.TrimRight(h.out.buf.Bytes(), " \n"))
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	h2 := *h
	h2.th = h.th.WithAttrs(as)
	return &h2
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	h2 := *h
	h2.th = h.th.WithGroup(name)
	return &h2
}

func severity(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return sevErr
	case l >= slog.LevelWarn:
		return sevWarning
	case l >= slog.LevelInfo:
		return sevInfo
	}
	return sevDebug
}

// Lines returns an io.Writer that sends each line written to it to
// syslog at info severity, tagged tag: an app's output. It never fails:
// the app loses nothing for syslog being away (the next line dials again).
func (c *Conn) Lines(tag string) *lines.Writer {
	return lines.NewWriter(func(l []byte) { c.Line(tag, l) })
}

// Line sends one line of an app's output at info severity, tagged tag; a
// failure loses the line.
func (c *Conn) Line(tag string, line []byte) { c.send(sevInfo, tag, line) }
