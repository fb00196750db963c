package lines

import (
	"bytes"
	"sync"
)

// Max bounds a line kept waiting for its newline; longer ones are emitted
// in pieces of Max bytes.
const Max = 4096

// Writer is an io.Writer that calls emit with each line written to it,
// without its newline. A last line without a newline waits for the rest,
// or for Flush. It is safe for concurrent use.
type Writer struct {
	emit func(line []byte)

	mu      sync.Mutex // guards partial
	partial []byte
}

// NewWriter returns a Writer that emits to emit; emit must not keep the
// slice.
func NewWriter(emit func(line []byte)) *Writer { return &Writer{emit: emit} }

// Write implements io.Writer; it never fails.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		next := i + 1
		if i < 0 {
			if len(w.partial) < Max {
				break
			}
			i, next = Max, Max
		}
		w.emit(w.partial[:i])
		w.partial = w.partial[next:]
	}
	return len(p), nil
}

// Flush emits a pending partial line.
func (w *Writer) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 {
		w.emit(w.partial)
		w.partial = nil
	}
}
