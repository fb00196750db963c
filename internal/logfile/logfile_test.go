package logfile

import (
	"os"
	"path/filepath"
	"testing"
)

// As logrotate does it: move the file away, then ask for a reopen.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "zsm.log")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Write([]byte("one\n"))
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	l.Write([]byte("two\n")) // still the moved file
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Write([]byte("three\n"))
	for name, want := range map[string]string{path + ".1": "one\ntwo\n", path: "three\n"} {
		if b, err := os.ReadFile(name); err != nil || string(b) != want {
			t.Errorf("%s holds %q, %v; want %q", filepath.Base(name), b, err, want)
		}
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", st.Mode().Perm())
	}
}

func TestReopenFails(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "zsm.log")
	os.Mkdir(filepath.Dir(path), 0o755)
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	os.RemoveAll(filepath.Dir(path))
	if err := l.Reopen(); err == nil {
		t.Error("Reopen into a missing directory: no error")
	}
	if _, err := l.Write([]byte("kept\n")); err != nil {
		t.Errorf("the old file is not kept: %v", err)
	}
}
