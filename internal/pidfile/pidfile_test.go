package pidfile

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestAcquire(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "site.pid")
	p, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	if p.Stale != 0 {
		t.Errorf("Stale = %d for a new file", p.Stale)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != strconv.Itoa(os.Getpid())+"\n" {
		t.Errorf("pid file holds %q, %v; want %d", b, err, os.Getpid())
	}
	if st, err := os.Stat(filepath.Dir(path)); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("directory: %v, %v; want a private one", st.Mode(), err)
	}

	// A second holder, even in this process (flock locks open files), is
	// refused and told who runs.
	_, err = Acquire(path)
	var held *HeldError
	if !errors.As(err, &held) || held.Pid != os.Getpid() {
		t.Fatalf("second Acquire: %v; want HeldError naming pid %d", err, os.Getpid())
	}

	if err := p.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Remove: %v", err)
	}
	p, err = Acquire(path)
	if err != nil {
		t.Fatalf("Acquire after Remove: %v", err)
	}
	p.Remove()
}

func TestAcquireStale(t *testing.T) {
	for name, content := range map[string]string{
		"dead pid": "2147483\n",
		"garbage":  "not a pid at all, and long enough to fill the read buffer\n",
		"empty":    "",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "site.pid")
			os.WriteFile(path, []byte(content), 0o644)
			p, err := Acquire(path)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Remove()
			if name == "dead pid" && p.Stale != 2147483 {
				t.Errorf("Stale = %d; want 2147483", p.Stale)
			}
			b, _ := os.ReadFile(path)
			if want := strconv.Itoa(os.Getpid()) + "\n"; string(b) != want {
				t.Errorf("file holds %q; want %q", b, want)
			}
		})
	}
}

func TestAcquireUnsafeDir(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o777)
	if _, err := Acquire(filepath.Join(dir, "site.pid")); err == nil || !strings.Contains(err.Error(), "writable by others") {
		t.Errorf("in a world-writable directory: %v", err)
	}
	os.Chmod(dir, 0o777|os.ModeSticky) // as /tmp
	p, err := Acquire(filepath.Join(dir, "site.pid"))
	if err != nil {
		t.Fatalf("in a sticky directory: %v", err)
	}
	p.Remove()
	if os.Geteuid() == 0 {
		os.Chmod(dir, 0o755)
		os.Chown(dir, 65534, 65534)
		if _, err := Acquire(filepath.Join(dir, "site.pid")); err == nil || !strings.Contains(err.Error(), "belongs to uid 65534") {
			t.Errorf("in another user's directory: %v", err)
		}
	}
}

// sharedDir returns a directory as /tmp is: writable by everyone, sticky.
func sharedDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tmp")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	return dir
}

// openFds counts this process's open fds.
func openFds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// TestAcquireRefusesSymlink: a symbolic link at the pid file's name, as
// another user could put in /tmp, is refused and never followed.
func TestAcquireRefusesSymlink(t *testing.T) {
	const precious = "the user's own file\n"
	tests := []struct {
		name   string
		target func(dir string) string // what the link points at
		exists bool
	}{
		{"to a file of the user's", func(dir string) string {
			p := filepath.Join(dir, "precious")
			if err := os.WriteFile(p, []byte(precious), 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}, true},
		{"to a missing file", func(dir string) string { return filepath.Join(dir, "created") }, false},
		{"relative, to a missing file", func(string) string { return "created" }, false},
		{"to a directory", func(dir string) string { return dir }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fds := openFds(t)
			own, shared := t.TempDir(), sharedDir(t)
			target := tt.target(own)
			path := filepath.Join(shared, "site.pid")
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
			p, err := Acquire(path)
			if err == nil {
				p.Remove()
				t.Fatal("Acquire followed a symbolic link")
			}
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, "symbolic link") {
				t.Errorf("error %q does not say that %s is a symbolic link", msg, path)
			}
			abs := target
			if !filepath.IsAbs(abs) {
				abs = filepath.Join(shared, target)
			}
			st, err := os.Stat(abs)
			switch {
			case !tt.exists && !errors.Is(err, os.ErrNotExist):
				t.Errorf("the link's target was created: %v, %v", st, err)
			case tt.exists && err != nil:
				t.Errorf("the link's target: %v", err)
			case tt.exists && st.Mode().IsRegular():
				if b, err := os.ReadFile(abs); err != nil || string(b) != precious {
					t.Errorf("the link's target holds %q, %v; want it unchanged, %q", b, err, precious)
				}
			}
			if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Errorf("the link itself: %v, %v; want it left as it was", fi, err)
			}
			if n := openFds(t); n != fds {
				t.Errorf("%d open fds after a refusal, %d before", n, fds)
			}
		})
	}
}

// TestAcquireRefusesOtherFiles: what is at the pid file's name must be a
// regular file of this user's that no other name shares, since it is
// truncated and written.
func TestAcquireRefusesOtherFiles(t *testing.T) {
	const precious = "the user's own file\n"
	tests := []struct {
		name  string
		plant func(t *testing.T, path string) (check func())
		want  string
	}{
		{"hard link to a file of the user's", func(t *testing.T, path string) func() {
			target := filepath.Join(t.TempDir(), "precious")
			if err := os.WriteFile(target, []byte(precious), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Link(target, path); err != nil {
				t.Skipf("cannot link across these directories: %v", err)
			}
			return func() {
				if b, err := os.ReadFile(target); err != nil || string(b) != precious {
					t.Errorf("the linked file holds %q, %v; want it unchanged", b, err)
				}
			}
		}, "2 hard links"},
		{"FIFO", func(t *testing.T, path string) func() {
			if err := unix.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
			return func() {}
		}, "not a regular file"},
		{"directory", func(t *testing.T, path string) func() {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
			return func() {}
		}, "is a directory"},
		{"another user's file", func(t *testing.T, path string) func() {
			if os.Geteuid() != 0 {
				t.Skip("needs root to make a file of another user's")
			}
			if err := os.WriteFile(path, []byte("4242\n"), 0o666); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(path, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return func() {
				if b, _ := os.ReadFile(path); string(b) != "4242\n" {
					t.Errorf("another user's file now holds %q", b)
				}
			}
		}, "belongs to uid 65534"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fds := openFds(t)
			path := filepath.Join(sharedDir(t), "site.pid")
			check := tt.plant(t, path)
			p, err := Acquire(path)
			if err == nil {
				p.Remove()
				t.Fatal("Acquire took it")
			}
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, tt.want) {
				t.Errorf("error %q; want it to name %s and say %q", msg, path, tt.want)
			}
			check()
			if n := openFds(t); n != fds {
				t.Errorf("%d open fds after a refusal, %d before", n, fds)
			}
		})
	}
}

// TestRemoveOnlyOurs: Remove deletes the pid file only while it is still
// the one Acquire took, and finds it through the directory it was taken
// in, not through the path.
func TestRemoveOnlyOurs(t *testing.T) {
	write := func(t *testing.T, path, s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		replace func(t *testing.T, path string) (check func())
	}{
		{"replaced by another pid file", func(t *testing.T, path string) func() {
			os.Remove(path)
			write(t, path, "4242\n")
			return func() {
				if b, err := os.ReadFile(path); err != nil || string(b) != "4242\n" {
					t.Errorf("the new pid file: %q, %v; want it left alone", b, err)
				}
			}
		}},
		{"replaced by a symbolic link", func(t *testing.T, path string) func() {
			target := filepath.Join(t.TempDir(), "precious")
			write(t, target, "precious\n")
			os.Remove(path)
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
			return func() {
				if _, err := os.Lstat(path); err != nil {
					t.Errorf("the link was removed: %v", err)
				}
				if b, err := os.ReadFile(target); err != nil || string(b) != "precious\n" {
					t.Errorf("the link's target: %q, %v; want it unchanged", b, err)
				}
			}
		}},
		{"removed", func(t *testing.T, path string) func() {
			os.Remove(path)
			return func() {}
		}},
		{"directory moved away and another put at its path", func(t *testing.T, path string) func() {
			dir := filepath.Dir(path)
			moved := dir + ".old"
			if err := os.Rename(dir, moved); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			write(t, path, "4242\n")
			return func() {
				if _, err := os.Stat(path); err != nil {
					t.Errorf("the file at the old path was removed: %v", err)
				}
				if _, err := os.Stat(filepath.Join(moved, filepath.Base(path))); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("ours, in the moved directory, was not removed: %v", err)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fds := openFds(t)
			path := filepath.Join(t.TempDir(), "run", "site.pid")
			p, err := Acquire(path)
			if err != nil {
				t.Fatal(err)
			}
			check := tt.replace(t, path)
			if err := p.Remove(); err != nil {
				t.Errorf("Remove: %v", err)
			}
			check()
			if err := p.Remove(); err == nil {
				t.Error("a second Remove returned nil")
			}
			if n := openFds(t); n != fds {
				t.Errorf("%d open fds after Remove, %d before Acquire", n, fds)
			}
		})
	}
}

// TestLinked: what Acquire asks after locking, to start over on a file
// another broker removed and recreated between its open and its lock.
func TestLinked(t *testing.T) {
	dir := t.TempDir()
	dirfd, err := openDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dirfd)
	path := filepath.Join(dir, "site.pid")
	f, err := open(dirfd, "site.pid", path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if same, err := linked(dirfd, "site.pid", f); err != nil || !same {
		t.Fatalf("linked = %v, %v for the file just opened", same, err)
	}
	os.Remove(path)
	if same, err := linked(dirfd, "site.pid", f); err != nil || same {
		t.Errorf("linked = %v, %v once removed", same, err)
	}
	if err := os.Symlink(filepath.Join(dir, "x"), path); err != nil {
		t.Fatal(err)
	}
	if same, err := linked(dirfd, "site.pid", f); err != nil || same {
		t.Errorf("linked = %v, %v with a symbolic link in its place", same, err)
	}
}
