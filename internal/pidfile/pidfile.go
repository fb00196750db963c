package pidfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// File is a pid file this process holds.
type File struct {
	path string
	f    *os.File
	// Stale is the pid the file named when it was taken over from a
	// process that no longer held it, 0 when it was new or empty.
	Stale int
}

// HeldError says that a running process holds the pid file.
type HeldError struct {
	Path string
	Pid  int // 0 when the holder has not written its pid yet
}

func (e *HeldError) Error() string {
	if e.Pid == 0 {
		return fmt.Sprintf("%s: held by a broker that is starting", e.Path)
	}
	return fmt.Sprintf("%s: a broker already runs (pid %d)", e.Path, e.Pid)
}

// Acquire locks the pid file at path and writes the calling process's pid
// into it. A missing directory is created, private to the user. It fails
// with a *HeldError when another process holds the file. The caller must
// Remove it when it exits.
func Acquire(path string) (*File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("pid file: %w", err)
	}
	if err := checkDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pid file: %w", err)
	}
	if err := lock(f); err != nil {
		pid, _ := read(f)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &HeldError{Path: path, Pid: pid}
		}
		return nil, fmt.Errorf("pid file %s: %w", path, err)
	}
	// Removed and recreated by another broker between our open and lock?
	// Then ours is an orphan inode: try again on the new one.
	if same, err := samePath(f, path); err != nil || !same {
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("pid file: %w", err)
		}
		return Acquire(path)
	}
	stale, _ := read(f)
	if err := write(f, os.Getpid()); err != nil {
		f.Close()
		return nil, fmt.Errorf("pid file %s: %w", path, err)
	}
	return &File{path: path, f: f, Stale: stale}, nil
}

// Path is the pid file's name.
func (p *File) Path() string { return p.path }

// Remove deletes the pid file, then lets go of it.
func (p *File) Remove() error {
	err := os.Remove(p.path)
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// checkDir refuses a directory where someone else could replace the pid
// file: one owned by another user (but root), or writable by others
// without the sticky bit (as /tmp has).
func checkDir(dir string) error {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return fmt.Errorf("pid file: %w", &os.PathError{Op: "stat", Path: dir, Err: err})
	}
	if uid := int(st.Uid); uid != os.Geteuid() && uid != 0 {
		return fmt.Errorf("pid file directory %s belongs to uid %d, not to this user", dir, uid)
	}
	if st.Mode&0o022 != 0 && st.Mode&unix.S_ISVTX == 0 {
		return fmt.Errorf("pid file directory %s is writable by others (mode %o)", dir, st.Mode&0o7777)
	}
	return nil
}

func lock(f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err != unix.EINTR {
			return err
		}
	}
}

func samePath(f *os.File, path string) (bool, error) {
	a, err := f.Stat()
	if err != nil {
		return false, err
	}
	b, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(a, b), nil
}

func read(f *os.File) (int, error) {
	b := make([]byte, 32)
	n, err := f.ReadAt(b, 0)
	if n == 0 && err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b[:n]))
	if s == "" {
		return 0, nil
	}
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s: not a pid: %q", f.Name(), s)
	}
	return pid, nil
}

func write(f *os.File, pid int) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(pid)+"\n"), 0)
	return err
}
