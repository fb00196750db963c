package logfile

import (
	"fmt"
	"os"
	"sync"
)

// File appends to the file at a path. It is safe for concurrent use; each
// Write is one write(2) to a file opened with O_APPEND.
type File struct {
	path string

	mu sync.Mutex // guards f
	f  *os.File
}

// Open opens (creating, mode 0640) the file at path for appending.
func Open(path string) (*File, error) {
	f, err := open(path)
	if err != nil {
		return nil, err
	}
	return &File{path: path, f: f}, nil
}

func open(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	return f, nil
}

// Path is the file's name.
func (l *File) Path() string { return l.path }

// Write implements io.Writer.
func (l *File) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(p)
}

// Reopen opens the path again, which may now name a new file, and closes
// the old one. On error the old file stays in use.
func (l *File) Reopen() error {
	f, err := open(l.path)
	if err != nil {
		return err
	}
	l.mu.Lock()
	old := l.f
	l.f = f
	l.mu.Unlock()
	return old.Close()
}

// Close closes the file.
func (l *File) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}
