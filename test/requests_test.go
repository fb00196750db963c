package test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/internal/loadgen"
	"github.com/zsm-dev/zsm/test/systemdtest"
)

// What operators watch requests with, through the real user manager and
// journal, with the Go hello worker (activation.ServeHTTP): request
// counts over a kept-alive connection, one slow-log entry per slow request
// with the worker's stacks in the journal, and a request past
// timeouts.request replacing its worker with no other request failing.
func TestRequestsWatched(t *testing.T) {
	systemdtest.Require(t)
	bin := systemdtest.BuildBinaries(t)
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	s := enable(t, "req", `site "%s" {
  listen          = ["`+addr+`"]
  protocol        = "http"
  command         = ["`+helloWorker(t, bin)+`"]
  slow_log        = "300ms"
  slow_log_signal = "USR1"
  pool {
    min_idle = 1
    max      = 3
  }
  timeouts {
    request = "2s"
  }
}`)
	unit := "--user-unit=zsm@" + s.name + ".service"

	// Requests over one kept-alive connection: counted as requests.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for i := range 50 {
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("kept-alive request %d: %v %v", i, resp, err)
		}
		resp.Body.Close()
	}
	systemdtest.Eventually(t, 10*time.Second, "zsm status to count 50 requests", func() bool {
		st := zsmStatusJSON(t, s.name)
		return st.Requests >= 50 && st.RequestsPerSec > 0
	})
	c.Close()

	// A slow request: one entry, and the worker's stacks under its pid.
	if code, _, err := loadgen.GetWithin("tcp", addr, "/sleep/900ms", 10*time.Second); err != nil || code != 200 {
		t.Fatalf("slow request: %d %v", code, err)
	}
	systemdtest.Eventually(t, 10*time.Second, "a slow-log entry and the stacks in the journal", func() bool {
		msgs := strings.Join(journalMessages(t, unit), "\n")
		return strings.Contains(msgs, "slow request") && strings.Contains(msgs, "the stacks of pid")
	})
	if n := strings.Count(strings.Join(journalMessages(t, unit), "\n"), "slow request"); n != 1 {
		t.Errorf("%d slow-log entries for one slow request, want 1:\n%s", n, strings.Join(journalMessages(t, unit), "\n"))
	}

	// A request past timeouts.request, while others keep coming.
	hung := make(chan error, 1)
	go func() {
		_, _, err := loadgen.GetWithin("tcp", addr, "/sleep/1h", 60*time.Second)
		hung <- err
	}()
	stop := make(chan struct{})
	var mu sync.Mutex
	var failed []string
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if code, _, err := loadgen.GetWithin("tcp", addr, "/sleep/20ms", 10*time.Second); err != nil || code != 200 {
				mu.Lock()
				failed = append(failed, fmt.Sprintf("request %d: %d %v", i, code, err))
				mu.Unlock()
			}
		}
	})
	systemdtest.Eventually(t, 30*time.Second, "the timed-out request's worker replaced and gone", func() bool {
		msgs := strings.Join(journalMessages(t, unit), "\n")
		return strings.Contains(msgs, "request ran past timeouts.request") && strings.Contains(msgs, "lost=1")
	})
	close(stop)
	wg.Wait()
	if len(failed) > 0 {
		t.Errorf("other requests failed while the worker was replaced: %v", failed)
	}
	if err := <-hung; err == nil {
		t.Error("the request past timeouts.request was answered")
	}
}
