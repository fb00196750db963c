package broker

// An accepted connection's socket has exactly one owner at a time, which
// closes it once: the queue (pending.sock) while it waits; then either the
// worker it was sent to (the broker closes its own copy once the send
// succeeded), the relay (an end, once connected to a backend: the relay
// closes its ends), the fd store (the broker closes its copy once stored),
// or the failure path (Refuse closes it once answered). ownedFD makes the
// first of these explicit; the relay's ends own their fds by the same
// rule (end.fd).

// ownedFD is a file descriptor with one owner. The zero value holds none.
type ownedFD struct {
	n int // the fd plus one
}

// own takes ownership of fd.
func own(fd int) ownedFD { return ownedFD{n: fd + 1} }

// fd returns the descriptor, still owned; -1 when none is held.
func (o ownedFD) fd() int { return o.n - 1 }

// take gives the descriptor away: the caller owns it now, and o holds
// none. It returns -1 when none was held.
func (o *ownedFD) take() int {
	fd := o.n - 1
	o.n = 0
	return fd
}

// close closes the descriptor held, if any; calling it again does nothing.
func (o *ownedFD) close() {
	if o.n > 0 {
		closeFD(o.n - 1)
		o.n = 0
	}
}
