package bounded

import (
	"sync"
	"testing"
	"time"
)

// blocked is a consumer that stalls until released.
type blocked struct {
	release chan struct{}
	mu      sync.Mutex
	got     int
}

func (s *blocked) deliver(int) {
	<-s.release
	s.mu.Lock()
	s.got++
	s.mu.Unlock()
}

// Put never blocks: what does not fit is dropped and
// counted; once the consumer moves again, what was queued is delivered.
func TestQueueDropsWhenStalled(t *testing.T) {
	s := &blocked{release: make(chan struct{})}
	q := NewQueue(4, s.deliver)
	for range 100 {
		q.Put(1) // returns at once
	}
	// The goroutine holds one value in the stalled consumer, the buffer 4.
	if d := q.Dropped(); d < 95 || d > 96 {
		t.Errorf("dropped %d of 100 with room for 4 (+1 in the consumer)", d)
	}
	close(s.release)
	q.Close(10 * time.Second)
	s.mu.Lock()
	got := s.got
	s.mu.Unlock()
	if got+int(q.Dropped()) != 100 {
		t.Errorf("delivered %d and dropped %d of 100", got, q.Dropped())
	}
}

// Close waits for a stuck consumer only as long as it was told to.
func TestQueueCloseBounded(t *testing.T) {
	s := &blocked{release: make(chan struct{})}
	defer close(s.release)
	q := NewQueue(4, s.deliver)
	q.Put(1)
	done := make(chan struct{})
	go func() {
		q.Close(time.Millisecond)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for a stuck consumer")
	}
}
