package bounded

import (
	"sync"
	"sync/atomic"
	"time"
)

// Queue delivers the values put in it to a function, in order, on a
// goroutine of its own. Put never blocks: when the buffer is full the
// value is dropped and counted. Make one with NewQueue and end it with
// Close.
type Queue[T any] struct {
	deliver func(T)
	ch      chan T
	dropped atomic.Uint64
	quit    chan struct{} // closed by Close
	once    sync.Once
	done    chan struct{} // closed when the goroutine returns
}

// NewQueue starts a queue of up to size values in front of deliver.
func NewQueue[T any](size int, deliver func(T)) *Queue[T] {
	q := &Queue[T]{
		deliver: deliver,
		ch:      make(chan T, max(size, 1)),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go q.run()
	return q
}

// Put queues v, or drops it when the queue is full.
func (q *Queue[T]) Put(v T) {
	select {
	case q.ch <- v:
	default:
		q.dropped.Add(1)
	}
}

// Dropped counts the values dropped so far.
func (q *Queue[T]) Dropped() uint64 { return q.dropped.Load() }

func (q *Queue[T]) run() {
	defer close(q.done)
	for {
		select {
		case v := <-q.ch:
			q.deliver(v)
		case <-q.quit:
			for {
				select {
				case v := <-q.ch:
					q.deliver(v)
				default:
					return
				}
			}
		}
	}
}

// Close stops the queue once the values in it are delivered, waiting at
// most timeout for that: a consumer that stalls keeps the goroutine, not
// the caller. Values put after Close may be dropped. Close may be called
// more than once.
func (q *Queue[T]) Close(timeout time.Duration) {
	q.once.Do(func() { close(q.quit) })
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-q.done:
	case <-t.C:
	}
}
