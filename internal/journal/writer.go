package journal

import (
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
)

// Socket is journald's native socket (systemd-journald.service(8)).
const Socket = "/run/systemd/journal/socket"

// SendTimeout bounds one entry's send: a journald that does not read
// (stopped, or swamped) costs the entry, not the caller's time.
const SendTimeout = 100 * time.Millisecond

// Writer sends entries to a journal socket over the native protocol, one
// datagram each. It is safe for concurrent use.
type Writer struct {
	path string

	mu   sync.Mutex // guards conn and buf
	conn *net.UnixConn
	buf  []byte
}

// Dial connects to the journal socket at path (Socket when empty).
func Dial(path string) (*Writer, error) {
	if path == "" {
		path = Socket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	return &Writer{path: path, conn: c}, nil
}

// Send writes one entry: MESSAGE, PRIORITY and vars, whose names must be
// valid journal field names. It gives up after SendTimeout.
func (w *Writer) Send(message string, priority journal.Priority, vars map[string]string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := appendField(w.buf[:0], "MESSAGE", message)
	b = appendField(b, "PRIORITY", strconv.Itoa(int(priority)))
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = appendField(b, k, vars[k])
	}
	w.buf = b
	w.conn.SetWriteDeadline(time.Now().Add(SendTimeout))
	if _, err := w.conn.Write(b); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// Close closes the connection.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.conn.Close()
}

// appendField appends KEY=VALUE and a newline, or, for a value with a
// newline, KEY, a newline, the value's length as 64-bit little-endian, the
// value and a newline.
func appendField(b []byte, key, value string) []byte {
	if !strings.ContainsRune(value, '\n') {
		b = append(b, key...)
		b = append(b, '=')
		b = append(b, value...)
		return append(b, '\n')
	}
	b = append(b, key...)
	b = append(b, '\n')
	b = binary.LittleEndian.AppendUint64(b, uint64(len(value)))
	b = append(b, value...)
	return append(b, '\n')
}
