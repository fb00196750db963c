package loadgen

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Failure is one failed request.
type Failure struct {
	Err error
	// LastPid is the worker (X-Worker-Pid) that answered this connection's
	// previous request; 0 on a new connection.
	LastPid int
	At      time.Time
}

// Load runs clients until Stop.
type Load struct {
	ok   atomic.Int64
	stop chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	failures []Failure
}

// Start runs clients against addr ("host:port", TCP) for at most limit:
// even-numbered clients keep one connection alive (reconnecting only when
// a response says "Connection: close"), odd ones open a connection per
// request.
func Start(addr string, clients int, limit time.Duration) *Load {
	l := &Load{stop: make(chan struct{})}
	deadline := time.Now().Add(limit)
	for i := range clients {
		l.wg.Go(func() { l.client(addr, i%2 == 0, deadline) })
	}
	return l
}

func (l *Load) client(addr string, keepAlive bool, deadline time.Time) {
	var c net.Conn
	var br *bufio.Reader
	lastPid := 0
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for time.Now().Before(deadline) {
		select {
		case <-l.stop:
			return
		default:
		}
		if c == nil {
			var err error
			if c, err = net.DialTimeout("tcp", addr, 5*time.Second); err != nil {
				l.fail(err, 0)
				continue
			}
			br = bufio.NewReader(c)
			lastPid = 0
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		hdr := ""
		if !keepAlive {
			hdr = "Connection: close\r\n"
		}
		closeAfter := !keepAlive
		_, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: zsm\r\n%s\r\n", hdr)
		var resp *http.Response
		if err == nil {
			resp, err = http.ReadResponse(br, nil)
		}
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != 200 {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
			closeAfter = closeAfter || resp.Close
		}
		if err != nil {
			l.fail(err, lastPid)
			closeAfter = true
		} else {
			l.ok.Add(1)
			lastPid, _ = strconv.Atoi(resp.Header.Get("X-Worker-Pid"))
		}
		if closeAfter {
			c.Close()
			c = nil
		}
	}
}

func (l *Load) fail(err error, lastPid int) {
	l.mu.Lock()
	l.failures = append(l.failures, Failure{Err: err, LastPid: lastPid, At: time.Now()})
	l.mu.Unlock()
}

// OK is the number of requests served so far.
func (l *Load) OK() int64 { return l.ok.Load() }

// Stop ends the load and returns the requests served and the failures.
func (l *Load) Stop() (ok int64, failures []Failure) {
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok.Load(), l.failures
}

// Summary is "N requests, M failed: first errors".
func Summary(ok int64, failures []Failure) string {
	s := fmt.Sprintf("%d requests, %d failed", ok+int64(len(failures)), len(failures))
	for i, f := range failures {
		if i == 3 {
			s += "; ..."
			break
		}
		s += "; " + f.Err.Error()
	}
	return s
}

// Get makes one request for path on a new connection to addr (network
// "tcp" or "unix") and returns the status and body; no retry.
func Get(network, addr, path string) (int, string, error) {
	return GetWithin(network, addr, path, 30*time.Second)
}

// GetWithin is Get with limit for the whole exchange, the connect included.
func GetWithin(network, addr, path string, limit time.Duration) (int, string, error) {
	deadline := time.Now().Add(limit)
	c, err := net.DialTimeout(network, addr, limit)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	c.SetDeadline(deadline)
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: zsm\r\nConnection: close\r\n\r\n", path); err != nil {
		return 0, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}
