package main

import (
	"context"
	"fmt"
	"time"
)

// Kinds of connection a load uses.
const (
	keepAlive = "keepalive" // one connection per client, kept alive
	newConn   = "newconn"   // a new connection per request (Connection: close)
)

// A loadSpec is one bounded run of HTTP load: GET path on addr.
type loadSpec struct {
	addr     string // host:port, TCP
	path     string // "" for /
	conn     string // keepAlive or newConn
	clients  int    // concurrent connections
	threads  int    // wrk -t; the Go loader ignores it
	duration time.Duration
}

// target is the URL's path: path, or /.
func (s loadSpec) target() string {
	if s.path == "" {
		return "/"
	}
	return s.path
}

// A loadResult is what one run measured.
type loadResult struct {
	// Requests is the number of responses read, whatever their status.
	Requests  int64         `json:"requests"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	ReqPerSec float64       `json:"req_per_s"`
	// P50 and P99 are latencies from writing a request to reading its
	// response (as wrk measures: the connect is not included).
	P50    time.Duration `json:"p50_ns"`
	P99    time.Duration `json:"p99_ns"`
	Errors errorCounts   `json:"errors"`
}

// errorCounts are failed requests by kind, as wrk reports them.
type errorCounts struct {
	Connect int64 `json:"connect"`
	Read    int64 `json:"read"`
	Write   int64 `json:"write"`
	Timeout int64 `json:"timeout"`
	// Status counts responses with a status of 400 and above for wrk
	// ("Non-2xx or 3xx responses"), and every status but 200 for the Go
	// loader.
	Status int64 `json:"status"`
}

// Total is every failed request.
func (e errorCounts) Total() int64 { return e.Connect + e.Read + e.Write + e.Timeout + e.Status }

// add returns the sum of e and o.
func (e errorCounts) add(o errorCounts) errorCounts {
	return errorCounts{e.Connect + o.Connect, e.Read + o.Read, e.Write + o.Write, e.Timeout + o.Timeout, e.Status + o.Status}
}

// String is "0" or e.g. "3 (read 2, status 1)".
func (e errorCounts) String() string {
	if e.Total() == 0 {
		return "0"
	}
	s := ""
	for _, k := range []struct {
		name string
		n    int64
	}{{"connect", e.Connect}, {"read", e.Read}, {"write", e.Write}, {"timeout", e.Timeout}, {"status", e.Status}} {
		if k.n == 0 {
			continue
		}
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("%s %d", k.name, k.n)
	}
	return fmt.Sprintf("%d (%s)", e.Total(), s)
}

// A loader runs load.
type loader interface {
	// Describe names the load generator for the report.
	Describe(threads int) string
	// RunsFor is how long a load asked to run d really runs.
	RunsFor(d time.Duration) time.Duration
	// Load runs s and returns what it measured. It returns early, with
	// ctx's error, when ctx is done.
	Load(ctx context.Context, s loadSpec) (loadResult, error)
}
