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
	path  string
	f     *os.File
	dirfd int    // the directory the file was taken in, for Remove
	name  string // the file's name in dirfd
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

// attempts bounds how often Acquire starts over when the file it locked
// was removed or replaced meanwhile.
const attempts = 8

// errReplaced says the file Acquire locked is no longer the one at the
// path: start over.
var errReplaced = errors.New("pidfile: replaced while being taken")

// Acquire locks the pid file at path and writes the calling process's pid
// into it. A missing directory is created, private to the user.
//
// The file is reached through its directory: the directory (which may be
// reached through symbolic links, as /var/run is) is opened once and
// checked (checkDir), and every later step works on that directory's fd
// and the file's own fd, never on path again, so that nothing swapped in
// at path between two steps is acted on. A symbolic link at the file's
// name is refused, never followed (O_NOFOLLOW), whether its target exists
// or not; so is anything at that name but a regular file with a single
// link owned by this user (a hard link to another file of the user's, a
// FIFO, another user's file), since the file is truncated and written.
//
// It fails with a *HeldError when another process holds the file. The
// caller must Remove it when it exits.
func Acquire(path string) (*File, error) {
	dir, name := filepath.Split(path)
	if name == "" || name == "." || name == ".." {
		return nil, fmt.Errorf("pid file %s: not a file name", path)
	}
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pid file: %w", err)
	}
	dirfd, err := openDir(dir)
	if err != nil {
		return nil, err
	}
	for range attempts {
		p, err := take(dirfd, name, path)
		if err == errReplaced {
			continue
		}
		if err != nil {
			unix.Close(dirfd)
		}
		return p, err
	}
	unix.Close(dirfd)
	return nil, fmt.Errorf("pid file %s: removed or replaced by another process %d times while being taken", path, attempts)
}

// take opens, locks and writes the pid file name in dirfd once. It
// returns errReplaced when the file it locked is no longer at name.
func take(dirfd int, name, path string) (*File, error) {
	f, err := open(dirfd, name, path)
	if err != nil {
		return nil, err
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
	if same, err := linked(dirfd, name, f); err != nil || !same {
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("pid file %s: %w", path, err)
		}
		return nil, errReplaced
	}
	stale, _ := read(f)
	if err := write(f, os.Getpid()); err != nil {
		f.Close()
		return nil, fmt.Errorf("pid file %s: %w", path, err)
	}
	return &File{path: path, f: f, dirfd: dirfd, name: name, Stale: stale}, nil
}

// open opens or creates the file name in dirfd without following a
// symbolic link, and checks that it is a file the pid may be written to.
func open(dirfd int, name, path string) (*os.File, error) {
	// O_NONBLOCK: a FIFO or socket at name must not block the open; it
	// is refused below.
	fd, err := unix.Openat(dirfd, name, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0o644)
	switch {
	case err == unix.ELOOP:
		return nil, fmt.Errorf("pid file %s is a symbolic link: refusing to follow it; remove it or choose another --pidfile", path)
	case err != nil:
		return nil, fmt.Errorf("pid file: %w", &os.PathError{Op: "open", Path: path, Err: err})
	}
	if err := checkFile(fd, path); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("pid file %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// checkFile refuses an open file that is not a regular file of this
// user's with one link: writing the pid would change something else.
func checkFile(fd int, path string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("pid file: %w", &os.PathError{Op: "fstat", Path: path, Err: err})
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return fmt.Errorf("pid file %s is not a regular file (mode %o): refusing it", path, st.Mode)
	case int(st.Uid) != os.Geteuid():
		return fmt.Errorf("pid file %s belongs to uid %d, not to this user: refusing it", path, st.Uid)
	case st.Nlink > 1:
		return fmt.Errorf("pid file %s has %d hard links: refusing it, since it may be another file's", path, st.Nlink)
	}
	return nil
}

// Path is the pid file's name.
func (p *File) Path() string { return p.path }

// Remove deletes the pid file if it is still the one Acquire took, then
// lets go of it. A file that was removed meanwhile, or replaced by another
// (a new pid file, a symbolic link), is left alone: it is not this
// process's, and Remove returns nil. The check and the unlink go through
// the directory opened by Acquire, not the path; in the directories
// Acquire accepts, only this user or root can replace the file between
// the two.
func (p *File) Remove() error {
	if p.dirfd < 0 {
		return fmt.Errorf("pid file %s: %w", p.path, os.ErrClosed)
	}
	same, err := linked(p.dirfd, p.name, p.f)
	if err == nil && same {
		err = unix.Unlinkat(p.dirfd, p.name, 0)
		if err != nil {
			err = &os.PathError{Op: "unlink", Path: p.path, Err: err}
		}
	}
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	if cerr := unix.Close(p.dirfd); err == nil && cerr != nil {
		err = fmt.Errorf("pid file %s: close directory: %w", p.path, cerr)
	}
	p.dirfd = -1
	return err
}

// openDir opens dir, following symbolic links, and checks the directory
// it reached (checkDir). The caller closes the fd.
func openDir(dir string) (int, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("pid file: %w", &os.PathError{Op: "open", Path: dir, Err: err})
	}
	if err := checkDir(fd, dir); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// checkDir refuses a directory where someone else could replace the pid
// file: one owned by another user (but root), or writable by others
// without the sticky bit (as /tmp has). In a sticky directory others can
// put files and links at the pid file's name before it exists, which
// Acquire refuses, but they cannot remove or rename the file once it is
// this user's.
func checkDir(fd int, dir string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("pid file: %w", &os.PathError{Op: "fstat", Path: dir, Err: err})
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

// linked reports whether the name in dirfd is f itself, not following a
// symbolic link there: false when nothing or something else is there.
func linked(dirfd int, name string, f *os.File) (bool, error) {
	var a, b unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &a); err != nil {
		return false, err
	}
	err := unix.Fstatat(dirfd, name, &b, unix.AT_SYMLINK_NOFOLLOW)
	if err == unix.ENOENT {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return a.Dev == b.Dev && a.Ino == b.Ino, nil
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
