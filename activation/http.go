package activation

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Grace is how long ServeHTTP lets kept-alive connections come back for
// one more request once it stops, before it closes the idle ones.
const Grace = time.Second

// ServeHTTP serves srv on l until l stops (the broker ended the channel,
// SIGTERM, Stop), then stops without failing a request, as PROTOCOL.md
// (section 3, "End of file") asks: every response from then on carries
// "Connection: close"; for at most Grace (or drain, if shorter) kept-alive
// connections may come back for one more request instead of being closed
// under a client that may be sending; then the idle ones are closed, the
// in-flight requests finish (for at most drain), and it returns. Each
// connection's Close sends its DONE=1. It wraps srv.Handler and
// srv.ConnState, and closes l. A nil error means every request was
// finished.
func ServeHTTP(srv *http.Server, l *Listener, drain time.Duration) error {
	var stopping atomic.Bool
	h := srv.Handler
	if h == nil {
		h = http.DefaultServeMux
	}
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if stopping.Load() {
			// net/http closes the connection after this response.
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
	var mu sync.Mutex
	open := map[net.Conn]http.ConnState{}
	prev := srv.ConnState
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		mu.Lock()
		if st == http.StateClosed || st == http.StateHijacked {
			delete(open, c)
		} else {
			open[c] = st
		}
		mu.Unlock()
		if prev != nil {
			prev(c, st)
		}
	}
	err := srv.Serve(l)
	if !errors.Is(err, net.ErrClosed) && !errors.Is(err, http.ErrServerClosed) {
		l.Close()
		return err
	}
	// SetKeepAlivesEnabled(false) would close idle connections now, under
	// clients that may be sending on them: let each say goodbye instead.
	stopping.Store(true)
	deadline := time.Now().Add(min(Grace, drain))
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(open)
		mu.Unlock()
		if n == 0 {
			break
		}
		<-tick.C
	}
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	return srv.Shutdown(ctx)
}
