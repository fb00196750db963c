package test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/test/systemdtest"
)

// The fault suite's client: one request at a time on a raw connection, read
// back with http.ReadResponse, never retried (FACTS.md, "Counting failures
// honestly"), each bounded by a deadline so that nothing hangs the test,
// and classified by what the client saw. loadgen counts every non-200 as a
// failure; here a 503 or 504 with zsm's reason is the explicit failure that
// zsm promises when it cannot serve, and only what is neither a 200 nor
// that (a reset, a close without an answer, a timeout, a refused connect)
// counts as failed.

// What a client saw.
const (
	sawOK      = "200"
	saw503     = "503"
	saw504     = "504"
	sawReset   = "reset"   // ECONNRESET or EPIPE
	sawClosed  = "closed"  // the connection ended before a whole answer
	sawTimeout = "timeout" // the client's deadline passed
	sawRefused = "refused" // connect(2) refused: nothing listens
)

// clientLimit is each request's deadline, connect included, unless a case
// says otherwise: longer than any wait zsm may impose on a client in these
// cases, so that a timeout is a hang.
const clientLimit = 20 * time.Second

// outcome is what one request got.
type outcome struct {
	kind   string // one of the saw* constants, "status N" or "error"
	reason string // a 503's or 504's reason, or the error
	pid    int    // X-Worker-Pid of a 200
	took   time.Duration
}

// explicit says the client was told the site could not serve it.
func (o outcome) explicit() bool { return o.kind == saw503 || o.kind == saw504 }

// answered says the client got a 200 or the explicit failure.
func (o outcome) answered() bool { return o.kind == sawOK || o.explicit() }

// askNew sends one request on a new connection to addr, within limit.
func askNew(addr string, limit time.Duration) outcome {
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, limit)
	if err != nil {
		o := classify(err)
		o.took = time.Since(start)
		return o
	}
	defer c.Close()
	c.SetDeadline(start.Add(limit))
	o, _ := exchange(c, bufio.NewReader(c), false)
	o.took = time.Since(start)
	return o
}

// exchange sends one GET on c (asking to keep it open when keep) and reads
// the answer; it reports whether c may carry another request.
func exchange(c net.Conn, br *bufio.Reader, keep bool) (outcome, bool) {
	hdr := "Connection: close\r\n"
	if keep {
		hdr = ""
	}
	if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: zsm\r\n%s\r\n", hdr); err != nil {
		return classify(err), false
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return classify(err), false
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if err != nil {
		return classify(err), false
	}
	var o outcome
	switch resp.StatusCode {
	case 200:
		o.kind = sawOK
		o.pid, _ = strconv.Atoi(resp.Header.Get("X-Worker-Pid"))
	case 503, 504:
		o.kind = strconv.Itoa(resp.StatusCode)
		o.reason = reasonOf(string(body))
	default:
		o.kind = "status " + strconv.Itoa(resp.StatusCode)
		o.reason = strings.TrimSpace(string(body))
	}
	return o, keep && !resp.Close && o.kind == sawOK
}

// classify names what a failed connect, write or read means to a client.
func classify(err error) outcome {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return outcome{kind: sawTimeout}
	case errors.Is(err, syscall.ECONNREFUSED):
		return outcome{kind: sawRefused}
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return outcome{kind: sawReset}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return outcome{kind: sawClosed}
	}
	return outcome{kind: "error", reason: err.Error()}
}

// unavailableRE is the start of zsm's refusal: `zsm: site "NAME" is
// unavailable: REASON`.
var unavailableRE = regexp.MustCompile(`^zsm: site "[^"]*" is unavailable: `)

// reasonOf is a refusal's reason, without the site's name.
func reasonOf(body string) string {
	return unavailableRE.ReplaceAllString(strings.TrimSpace(body), "")
}

// tally counts outcomes. It is safe for concurrent use.
type tally struct {
	mu      sync.Mutex
	counts  map[string]int
	reasons map[string]map[string]int // kind → reason → count
	slowest map[string]time.Duration  // kind → longest wait
}

func newTally() *tally {
	return &tally{counts: map[string]int{}, reasons: map[string]map[string]int{}, slowest: map[string]time.Duration{}}
}

func (t *tally) add(o outcome) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.counts[o.kind]++
	if o.reason != "" {
		if t.reasons[o.kind] == nil {
			t.reasons[o.kind] = map[string]int{}
		}
		t.reasons[o.kind][o.reason]++
	}
	t.slowest[o.kind] = max(t.slowest[o.kind], o.took)
}

// count is how many requests saw kind.
func (t *tally) count(kind string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.counts[kind]
}

// total is every request counted.
func (t *tally) total() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, c := range t.counts {
		n += c
	}
	return n
}

// failed counts the requests that got neither a 200 nor the explicit
// failure.
func (t *tally) failed() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for k, c := range t.counts {
		if !(outcome{kind: k}).answered() {
			n += c
		}
	}
	return n
}

// slowestOf is the longest any request that saw kind waited.
func (t *tally) slowestOf(kind string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.slowest[kind]
}

// reasons lists the distinct reasons kind came with, the most frequent
// first.
func (t *tally) reasonsOf(kind string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.reasons[kind]
	var rs []string
	for r := range m {
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	return rs
}

// String is "200×1180, 503×3 ("reason"), reset×1": 200 first, then the
// explicit failures, then the rest, with the commonest reason of each.
func (t *tally) String() string {
	t.mu.Lock()
	kinds := make([]string, 0, len(t.counts))
	for k := range t.counts {
		kinds = append(kinds, k)
	}
	t.mu.Unlock()
	rank := func(k string) int {
		switch {
		case k == sawOK:
			return 0
		case (outcome{kind: k}).explicit():
			return 1
		}
		return 2
	}
	slices.SortFunc(kinds, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, k := range kinds {
		s := fmt.Sprintf("%s×%d", k, t.count(k))
		if rs := t.reasonsOf(k); len(rs) > 0 {
			s += fmt.Sprintf(" (%q", shortReason(rs[0]))
			if len(rs) > 1 {
				s += fmt.Sprintf(" and %d other reasons", len(rs)-1)
			}
			s += ")"
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "no request"
	}
	return strings.Join(parts, ", ")
}

// tempPathRE matches the temporary directories of a run in a reason.
var tempPathRE = regexp.MustCompile(`/tmp/[^\s:"]*/`)

// shortReason is a reason as the report shows it: no temporary paths,
// at most one line of 160 bytes.
func shortReason(r string) string {
	r = tempPathRE.ReplaceAllString(r, "")
	r, _, _ = strings.Cut(r, "\n")
	if len(r) > 160 {
		r = r[:157] + "..."
	}
	return r
}

// traffic is load on a site: clients that each send one request after
// the other, until stopped.
type traffic struct {
	tally *tally
	ok    atomic.Int64
	stop  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

// trafficLimit bounds a load's run should a test forget to stop it.
const trafficLimit = 90 * time.Second

// startTraffic runs newConn clients that open a connection per request
// and keepAlive clients that keep theirs (reconnecting only after a
// failure or a close) against addr, until stopped or the end of the test.
func startTraffic(t *testing.T, addr string, newConn, keepAlive int) *traffic {
	t.Helper()
	tr := &traffic{tally: newTally(), stop: make(chan struct{})}
	deadline := time.Now().Add(trafficLimit)
	for i := range newConn + keepAlive {
		tr.wg.Go(func() { tr.client(addr, i >= newConn, deadline) })
	}
	t.Cleanup(func() { tr.end() })
	return tr
}

func (tr *traffic) client(addr string, keep bool, deadline time.Time) {
	var c net.Conn
	var br *bufio.Reader
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for time.Now().Before(deadline) {
		select {
		case <-tr.stop:
			return
		default:
		}
		if !keep {
			tr.count(askNew(addr, clientLimit))
			continue
		}
		start := time.Now()
		if c == nil {
			var err error
			if c, err = net.DialTimeout("tcp", addr, clientLimit); err != nil {
				o := classify(err)
				o.took = time.Since(start)
				tr.count(o)
				c = nil
				continue
			}
			br = bufio.NewReader(c)
		}
		c.SetDeadline(start.Add(clientLimit))
		o, again := exchange(c, br, true)
		o.took = time.Since(start)
		tr.count(o)
		if !again {
			c.Close()
			c = nil
		}
	}
}

func (tr *traffic) count(o outcome) {
	tr.tally.add(o)
	if o.kind == sawOK {
		tr.ok.Add(1)
	}
}

// progress waits until n more requests have got a 200.
func (tr *traffic) progress(t *testing.T, n int64) {
	t.Helper()
	want := tr.ok.Load() + n
	systemdtest.Eventually(t, 30*time.Second, fmt.Sprintf("%d more requests served (%s)", n, tr.tally), func() bool {
		return tr.ok.Load() >= want
	})
}

// end stops the clients, waits for the requests in flight, and returns
// the tally.
func (tr *traffic) end() *tally {
	tr.once.Do(func() { close(tr.stop) })
	tr.wg.Wait()
	return tr.tally
}

// burst sends n requests at once, each on its own new connection, and
// waits for all of them.
func burst(addr string, n int, limit time.Duration) *tally {
	tl := newTally()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { tl.add(askNew(addr, limit)) })
	}
	wg.Wait()
	return tl
}
