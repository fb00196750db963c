package activation

import (
	"io"
	"net"
	"sync"
	"time"
)

// Conn is a connection handed over by the zsm broker, as returned by
// [Listener.Accept] in handoff mode. It wraps the socket minimally: Close
// also sends DONE=1 to the broker, exactly once; everything else goes to the
// underlying *net.TCPConn or *net.UnixConn, which [Conn.NetConn] returns.
// io.Copy to or from a Conn takes the underlying connection's fast paths
// (splice, sendfile) through [Conn.ReadFrom] and [Conn.WriteTo].
type Conn struct {
	raw     net.Conn
	handoff Handoff
	l       *Listener
	once    sync.Once
}

// NetConn returns the underlying connection, a *net.TCPConn or a
// *net.UnixConn. Closing it directly does not tell the broker: close the
// Conn.
func (c *Conn) NetConn() net.Conn { return c.raw }

// Handoff returns what the broker said about the connection: its id, the
// name of the listener that accepted it and the client's address.
func (c *Conn) Handoff() Handoff { return c.handoff }

// Close closes the connection and, on the first call, tells the broker
// (DONE=1 with the connection's ID), freeing a slot.
func (c *Conn) Close() error {
	err := c.raw.Close()
	c.once.Do(func() { c.l.release(c.handoff.ID) })
	return err
}

func (c *Conn) Read(b []byte) (int, error)         { return c.raw.Read(b) }
func (c *Conn) Write(b []byte) (int, error)        { return c.raw.Write(b) }
func (c *Conn) LocalAddr() net.Addr                { return c.raw.LocalAddr() }
func (c *Conn) RemoteAddr() net.Addr               { return c.raw.RemoteAddr() }
func (c *Conn) SetDeadline(t time.Time) error      { return c.raw.SetDeadline(t) }
func (c *Conn) SetReadDeadline(t time.Time) error  { return c.raw.SetReadDeadline(t) }
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.raw.SetWriteDeadline(t) }

// CloseWrite shuts down the writing side, as net/http does before closing
// a connection.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.raw.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// CloseRead shuts down the reading side.
func (c *Conn) CloseRead() error {
	if cr, ok := c.raw.(interface{ CloseRead() error }); ok {
		return cr.CloseRead()
	}
	return nil
}

// ReadFrom copies from r as the underlying connection would (io.Copy
// uses it), unwrapping r if it is a Conn so that splice(2) applies.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	switch src := r.(type) {
	case *Conn:
		r = src.raw
	case *io.LimitedReader:
		if inner, ok := src.R.(*Conn); ok {
			src.R = inner.raw
			defer func() { src.R = inner }()
		}
	}
	return io.Copy(c.raw, r)
}

// WriteTo copies to w as the underlying connection would (io.Copy uses
// it), unwrapping w if it is a Conn.
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	if dst, ok := w.(*Conn); ok {
		w = dst.raw
	}
	return io.Copy(w, c.raw)
}
