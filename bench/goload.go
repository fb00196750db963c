package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"
)

// goLoader is the built-in load generator (-loader go): for machines
// without wrk, and the smoke test. Like wrk it writes requests on raw
// connections and never retries one, so every error is counted (see
// "Counting failures honestly under load" in FACTS.md); latency runs from
// writing a request to reading its response.
type goLoader struct{}

func (goLoader) Describe(int) string { return "the built-in Go loader (-loader go)" }

func (goLoader) RunsFor(d time.Duration) time.Duration { return d }

// opTimeout bounds every dial, write and read of the Go loader, as wrk's
// --timeout does.
const opTimeout = 5 * time.Second

// Load runs s.clients clients until s.duration has passed.
func (goLoader) Load(ctx context.Context, s loadSpec) (loadResult, error) {
	start := time.Now()
	deadline := start.Add(s.duration)
	clients := make([]goClient, max(s.clients, 1))
	req := request(s)
	var wg sync.WaitGroup
	for i := range clients {
		c := &clients[i]
		wg.Go(func() { c.run(ctx, s.addr, req, s.conn == keepAlive, deadline) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return loadResult{}, fmt.Errorf("go loader: %w", err)
	}
	var r loadResult
	var lat []time.Duration
	for _, c := range clients {
		r.Requests += c.responses
		r.Errors = r.Errors.add(c.errors)
		lat = append(lat, c.latencies...)
	}
	slices.Sort(lat)
	r.Elapsed = elapsed
	r.ReqPerSec = float64(r.Requests) / elapsed.Seconds()
	r.P50, r.P99 = percentile(lat, 50), percentile(lat, 99)
	return r, nil
}

// goClient is one connection's worth of load; only its goroutine touches it
// until Load's Wait.
type goClient struct {
	responses int64
	errors    errorCounts
	latencies []time.Duration
}

// GET / on a kept-alive connection, and closing it.
var (
	requestKeepAlive = request(loadSpec{conn: keepAlive})
	requestClose     = request(loadSpec{conn: newConn})
)

// request is the GET a client sends for s, again and again.
func request(s loadSpec) []byte {
	header := ""
	if s.conn != keepAlive {
		header = "Connection: close\r\n"
	}
	return []byte("GET " + s.target() + " HTTP/1.1\r\nHost: bench\r\n" + header + "\r\n")
}

func (c *goClient) run(ctx context.Context, addr string, req []byte, keep bool, deadline time.Time) {
	var conn net.Conn
	var br *bufio.Reader
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	d := net.Dialer{Timeout: opTimeout}
	for ctx.Err() == nil && time.Now().Before(deadline) {
		if conn == nil {
			var err error
			if conn, err = d.DialContext(ctx, "tcp", addr); err != nil {
				c.fail(err, &c.errors.Connect)
				continue
			}
			br = bufio.NewReader(conn)
		}
		conn.SetDeadline(time.Now().Add(opTimeout))
		t0 := time.Now()
		closeAfter := !keep
		if _, err := conn.Write(req); err != nil {
			c.fail(err, &c.errors.Write)
			conn.Close()
			conn = nil
			continue
		}
		resp, err := http.ReadResponse(br, nil)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if err != nil {
			c.fail(err, &c.errors.Read)
			conn.Close()
			conn = nil
			continue
		}
		c.responses++
		c.latencies = append(c.latencies, time.Since(t0))
		if resp.StatusCode != http.StatusOK {
			c.errors.Status++
		}
		if closeAfter || resp.Close {
			conn.Close()
			conn = nil
		}
	}
}

// fail counts err under kind, or as a timeout.
func (c *goClient) fail(err error, kind *int64) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.errors.Timeout++
		return
	}
	*kind++
}
