package sockets

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/freeport"
)

func site(addrs ...config.Address) *config.Site {
	return &config.Site{Name: "t", Listen: addrs}
}

func fakeEnv(vars map[string]string, pid int) (Env, map[string]string) {
	return Env{
		LookupEnv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
		Unsetenv:  func(k string) error { delete(vars, k); return nil },
		Getpid:    func() int { return pid },
	}, vars
}

func TestBindUnix(t *testing.T) {
	dir := t.TempDir()
	s := site(config.Address{Net: config.NetUnix, Path: "a.sock"}, config.Address{Net: config.NetTCP, Host: "127.0.0.1", Port: freePort(t)})
	set, err := Bind(s, dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "a.sock")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("socket mode %o, want 600", perm)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("runtime dir holds %d entries, want only a.sock", len(ents))
	}
	// A live socket is never replaced.
	if _, err := Bind(site(config.Address{Net: config.NetUnix, Path: "a.sock"}), dir); !errors.Is(err, ErrInUse) {
		t.Errorf("binding a live socket's path: %v, want ErrInUse", err)
	}
	if err := set.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file left after Close: %v", err)
	}
}

func TestBindReplacesStale(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.sock")
	// A socket file whose listener is gone.
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	set, err := Bind(site(config.Address{Net: config.NetUnix, Path: "a.sock"}), dir)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	defer set.Close()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("the new socket does not answer: %v", err)
	}
	c.Close()
}

func TestBindRefusesNonSocket(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.sock"), []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Bind(site(config.Address{Net: config.NetUnix, Path: "a.sock"}), dir); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("got %v, want a refusal", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a.sock")); string(b) != "precious" {
		t.Error("the file was touched")
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	p, err := freeport.One()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMatch(t *testing.T) {
	dir := t.TempDir()
	p1, p2 := freePort(t), freePort(t)
	addrs := []config.Address{
		{Net: config.NetTCP, Host: "127.0.0.1", Port: p1},
		{Net: config.NetUnix, Path: "a.sock"},
		{Net: config.NetTCP, Port: p2},
	}
	bound, err := Bind(site(addrs...), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer bound.Close()
	files := func(order ...int) []*os.File {
		var fs []*os.File
		for _, i := range order {
			fs = append(fs, bound.Sockets[i].File)
		}
		return fs
	}

	// Passed in any order, all named alike: matched by address.
	socks, err := match(site(addrs...), dir, files(2, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	for i, sk := range socks {
		if sk.File != bound.Sockets[i].File {
			t.Errorf("listen[%d] %s matched the wrong fd", i, addrs[i])
		}
	}

	tests := []struct {
		name  string
		addrs []config.Address
		files []*os.File
		want  string
	}{
		{"missing", addrs, files(0, 1), "no passed socket is bound to :"},
		{"extra", addrs[:2], files(0, 1, 2), "is not in the config"},
		{"other port", []config.Address{{Net: config.NetTCP, Host: "127.0.0.1", Port: p2}}, files(0), "no passed socket is bound to 127.0.0.1:"},
		{"other path", []config.Address{{Net: config.NetUnix, Path: "b.sock"}}, files(1), "no passed socket is bound to unix:b.sock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := match(site(tt.addrs...), dir, tt.files)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestInherited(t *testing.T) {
	// No case passes descriptors this process would really take: fds 3.. of
	// the test binary are not sockets (test/ covers real passed sockets).
	tests := []struct {
		name    string
		vars    map[string]string
		wantErr string
	}{
		{name: "none", vars: map[string]string{"LISTEN_PIDFDID": "7"}},
		// As sd_listen_fds(3): another process's descriptors are not ours
		// to use, and that is no error.
		{name: "other pid", vars: map[string]string{"LISTEN_FDS": "1", "LISTEN_PID": "41", "LISTEN_FDNAMES": "x", "LISTEN_PIDFDID": "7"}},
		{name: "no LISTEN_PID", vars: map[string]string{"LISTEN_FDS": "1"}},
		{name: "zero", vars: map[string]string{"LISTEN_FDS": "0", "LISTEN_PID": "42"}},
		{name: "bad count", vars: map[string]string{"LISTEN_FDS": "x", "LISTEN_PID": "42"}, wantErr: "sockets: LISTEN_FDS="},
		{name: "negative count", vars: map[string]string{"LISTEN_FDS": "-1", "LISTEN_PID": "42"}, wantErr: "sockets: LISTEN_FDS="},
		{name: "bad pid", vars: map[string]string{"LISTEN_FDS": "1", "LISTEN_PID": "x"}, wantErr: "sockets: LISTEN_PID="},
		{name: "names miscounted", vars: map[string]string{"LISTEN_FDS": "2", "LISTEN_PID": "42", "LISTEN_FDNAMES": "web"}, wantErr: "sockets: LISTEN_FDNAMES="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, vars := fakeEnv(tt.vars, 42)
			files, err := inherited(env)
			if tt.wantErr == "" && (files != nil || err != nil) {
				t.Errorf("got %v, %v; want nothing", files, err)
			}
			if tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)) {
				t.Errorf("got %v, want an error starting %q", err, tt.wantErr)
			}
			if len(vars) != 0 {
				t.Errorf("variables left: %v", vars)
			}
		})
	}
}

// TestOpenOtherProcess: sockets passed to another process (LISTEN_PID is
// not this one) are ignored, as sd_listen_fds(3) does: Open binds its own.
func TestOpenOtherProcess(t *testing.T) {
	dir := t.TempDir()
	env, _ := fakeEnv(map[string]string{"LISTEN_FDS": "1", "LISTEN_PID": "41"}, 42)
	set, err := Open(site(config.Address{Net: config.NetUnix, Path: "a.sock"}), dir, env)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	if set.FromSystemd || len(set.Sockets) != 1 {
		t.Fatalf("FromSystemd %v with %d sockets, want 1 bound here", set.FromSystemd, len(set.Sockets))
	}
	c, err := net.Dial("unix", filepath.Join(dir, "a.sock"))
	if err != nil {
		t.Fatalf("the bound socket does not answer: %v", err)
	}
	c.Close()
}
