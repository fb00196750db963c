package pidfile

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
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
