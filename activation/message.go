package activation

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Version is the version of the worker protocol this package implements,
// the value of [EnvProtocol].
const Version = 1

// Environment variables set by the broker for a handoff worker.
const (
	// EnvProtocol holds the protocol version, "1".
	EnvProtocol = "ZSM_PROTOCOL"
	// EnvChannelFD holds the decimal number of the worker's end of the channel.
	EnvChannelFD = "ZSM_CHANNEL_FD"
	// EnvWatchdogUSec, when set, is the interval in microseconds within
	// which the worker must send WATCHDOG=1 (PROTOCOL.md, section 4).
	EnvWatchdogUSec = "ZSM_WATCHDOG_USEC"
	// EnvStackSignal, when set, is the decimal number of a signal on which
	// the worker writes the stacks of all its goroutines to its stderr and
	// goes on (the site's slow_log_signal; PROTOCOL.md, section 4). The
	// activation package does this itself.
	EnvStackSignal = "ZSM_STACK_SIGNAL"
)

// Limits of the wire format (PROTOCOL.md, section 2).
const (
	// MaxMessageSize is the largest datagram, in bytes.
	MaxMessageSize = 4096
	// MaxKeySize is the longest key, in bytes.
	MaxKeySize = 64
	// MaxSlots is the largest SLOTS value.
	MaxSlots = 65536
)

// ErrProtocol is wrapped by every error that reports a violation of the
// worker protocol: a malformed datagram or a message that breaks the rules.
// The broker stops a worker whose input fails with it (errors.Is).
var ErrProtocol = errors.New("activation: protocol violation")

// Field is one KEY=VALUE line of a datagram.
type Field struct {
	Key   string
	Value string
}

// Message is one datagram of the worker protocol: its fields in order.
// A valid Message has at least one field, valid and distinct keys, valid
// values, and formats to at most [MaxMessageSize] bytes.
type Message []Field

// Get returns the value of key and whether it is present.
func (m Message) Get(key string) (string, bool) {
	for _, f := range m {
		if f.Key == key {
			return f.Value, true
		}
	}
	return "", false
}

// Format returns the datagram for m: each field as KEY=VALUE followed by a
// line feed. It fails, wrapping [ErrProtocol], if m is not valid.
func (m Message) Format() ([]byte, error) {
	if len(m) == 0 {
		return nil, protocolError("empty message")
	}
	n := 0
	for _, f := range m {
		n += len(f.Key) + len(f.Value) + 2
	}
	if n > MaxMessageSize {
		return nil, protocolError("message of %d bytes exceeds %d", n, MaxMessageSize)
	}
	b := make([]byte, 0, n)
	for i, f := range m {
		if err := checkKey(f.Key); err != nil {
			return nil, err
		}
		if err := checkValue(f.Key, f.Value); err != nil {
			return nil, err
		}
		for _, g := range m[:i] {
			if g.Key == f.Key {
				return nil, protocolError("duplicate key %q", f.Key)
			}
		}
		b = append(b, f.Key...)
		b = append(b, '=')
		b = append(b, f.Value...)
		b = append(b, '\n')
	}
	return b, nil
}

// Parse decodes one datagram strictly (PROTOCOL.md, section 2): KEY=VALUE
// lines separated by line feeds, with an optional final line feed, at most
// [MaxMessageSize] bytes counting that final line feed even when absent, no empty line, valid keys and UTF-8 values
// without control characters, no duplicate key. Errors wrap [ErrProtocol].
// For every valid Message m, Parse(m.Format()) returns m.
func Parse(b []byte) (Message, error) {
	if len(b) == 0 {
		return nil, protocolError("empty datagram")
	}
	if len(b) > MaxMessageSize {
		return nil, protocolError("datagram of %d bytes exceeds %d", len(b), MaxMessageSize)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	if len(b)+1 > MaxMessageSize {
		// The size counts a final line feed even when it was left out, so
		// that every datagram Parse accepts formats within the limit.
		return nil, protocolError("datagram of %d bytes and a final line feed exceeds %d", len(b), MaxMessageSize)
	}
	m := make(Message, 0, bytes.Count(b, []byte("\n"))+1)
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if len(line) == 0 {
			return nil, protocolError("empty line")
		}
		k, v, ok := bytes.Cut(line, []byte("="))
		if !ok {
			return nil, protocolError("line %q has no '='", truncate(line))
		}
		f := Field{Key: string(k), Value: string(v)}
		if err := checkKey(f.Key); err != nil {
			return nil, err
		}
		if err := checkValue(f.Key, f.Value); err != nil {
			return nil, err
		}
		if _, dup := m.Get(f.Key); dup {
			return nil, protocolError("duplicate key %q", f.Key)
		}
		m = append(m, f)
	}
	return m, nil
}

func checkKey(k string) error {
	if k == "" {
		return protocolError("empty key")
	}
	if len(k) > MaxKeySize {
		return protocolError("key %q longer than %d bytes", truncate([]byte(k)), MaxKeySize)
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '_'):
		default:
			return protocolError("bad key %q", truncate([]byte(k)))
		}
	}
	return nil
}

// ValidValue reports whether v can be a message's value: UTF-8 without
// control characters.
func ValidValue(v string) bool { return checkValue("", v) == nil }

func checkValue(k, v string) error {
	if !utf8.ValidString(v) {
		return protocolError("%s: value is not UTF-8", k)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f {
			return protocolError("%s: control character %#02x in value", k, c)
		}
	}
	return nil
}

// parseUint parses a decimal without sign or leading zeros in [min, max].
func parseUint(key, s string, min, max uint64) (uint64, error) {
	// No sign, no leading zero; "0" itself where 0 is allowed.
	if s == "" || s[0] == '+' || (s[0] == '0' && (len(s) > 1 || min > 0)) {
		return 0, protocolError("%s=%q: not a number in %d..%d", key, truncate([]byte(s)), min, max)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n < min || n > max {
		return 0, protocolError("%s=%q: not a number in %d..%d", key, truncate([]byte(s)), min, max)
	}
	return n, nil
}

func protocolError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

// truncate shortens b for an error message.
func truncate(b []byte) string {
	const max = 64
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}
