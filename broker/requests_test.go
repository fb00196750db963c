package broker

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/loadgen"
)

// Workers on the activation package report the requests they finish:
// the status counts requests over a kept-alive connection, which is one
// connection, not yet served.
func TestRequestsCounted(t *testing.T) {
	s := testSite(t, config.Handoff, "http")
	r := start(t, s, nil)
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := range 20 {
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("request %d: %v %v", i, resp, err)
		}
		resp.Body.Close()
	}
	eventually(t, 5*time.Second, "20 requests in the status", func() bool {
		st, err := r.b.Status(context.Background())
		return err == nil && st.Requests == 20 && st.Served == 0 && st.RequestsPerSec > 0 &&
			len(st.Workers) > 0 && st.Workers[0].Requests == 20 && st.Workers[0].Held == 1 && st.Workers[0].Busy == 0
	})
}

// A request that runs past slow_log is logged once, naming its client,
// and its worker (on the activation package) writes its stacks on
// slow_log_signal and serves on.
func TestSlowLog(t *testing.T) {
	s := testSite(t, config.Handoff, "http")
	s.SlowLog, s.SlowLogSignal = 200*time.Millisecond, "USR1"
	r := start(t, s, nil)
	code, body, err := loadgen.GetWithin("tcp", r.addr, "/?ms=1000", 10*time.Second)
	if err != nil || code != 200 {
		t.Fatalf("slow request: %d %q %v", code, body, err)
	}
	eventually(t, 5*time.Second, "a slow-log entry and the worker's stacks", func() bool {
		log := r.log.String()
		return strings.Contains(log, "event=slow-request") && strings.Contains(log, "the stacks of pid")
	})
	log := r.log.String()
	if n := strings.Count(log, "event=slow-request"); n != 1 {
		t.Errorf("%d slow-log entries for one request, want 1", n)
	}
	if !strings.Contains(log, "peer=127.0.0.1:") || !strings.Contains(log, "signal=USR1") || !strings.Contains(log, "goroutine ") {
		t.Errorf("the entry names no peer or signal, or no stack was written:\n%s", log)
	}
	if code, _, err := loadgen.GetWithin("tcp", r.addr, "/", 5*time.Second); err != nil || code != 200 {
		t.Errorf("after the stack dump: %d %v", code, err)
	}
}

// A worker whose request runs past timeouts.request is replaced: no other
// request fails, the event names the client and the age, and the worker
// is stopped once its replacement is ready.
func TestRequestTimeout(t *testing.T) {
	s := testSite(t, config.Handoff, "http")
	s.Timeouts.Request = time.Second
	s.Pool.MinIdle, s.Pool.Max = 0, 2
	r := start(t, s, nil)
	if code, _, err := loadgen.GetWithin("tcp", r.addr, "/", 10*time.Second); err != nil || code != 200 {
		t.Fatalf("first request: %d %v", code, err)
	}
	hung := make(chan error, 1)
	go func() {
		_, _, err := loadgen.GetWithin("tcp", r.addr, "/?ms=60000", 30*time.Second)
		hung <- err
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []string
	deadline := time.Now().Add(20 * time.Second)
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; time.Now().Before(deadline); i++ {
			select {
			case <-stop:
				return
			default:
			}
			if code, body, err := loadgen.GetWithin("tcp", r.addr, "/?ms=20", 10*time.Second); err != nil || code != 200 {
				mu.Lock()
				failed = append(failed, fmt.Sprintf("request %d: %d %q %v", i, code, body, err))
				mu.Unlock()
			}
		}
	})
	eventually(t, 20*time.Second, "the hung worker replaced and gone", func() bool {
		log := r.log.String()
		return strings.Contains(log, "event=request-timeout") && strings.Contains(log, "lost=1")
	})
	close(stop)
	wg.Wait()
	if len(failed) > 0 {
		t.Errorf("other requests failed: %v", failed)
	}
	if err := <-hung; err == nil {
		t.Error("the hung request was answered")
	}
	log := r.log.String()
	if !strings.Contains(log, "peer=127.0.0.1:") || !strings.Contains(log, "timeout=1s") {
		t.Errorf("the request-timeout event does not name the client and the limit:\n%s", log)
	}
}
