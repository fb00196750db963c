package units

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zsm-dev/zsm/internal/config"
)

// verifyUnits writes files into a fresh unit directory and runs
// "systemd-analyze --user verify" on the socket and service instance of
// every site, with that directory first in the unit search path (the
// built-in user unit paths follow, for sockets.target and basic.target). It returns
// verify's combined output and error. The instances (zsm@blog.socket) exist
// only as template plus drop-in, which is what verify must load: it finds
// zsm@.socket and zsm@blog.socket.d/ through SYSTEMD_UNIT_PATH ("dir:" puts
// dir before the built-in paths). %t needs $XDG_RUNTIME_DIR, set to a temp
// directory so that the result does not depend on the caller's session.
func verifyUnits(t *testing.T, files []File, sites []*config.Site) (string, error) {
	t.Helper()
	unitDir := filepath.Join(t.TempDir(), "units")
	// verify loads every user unit that sockets.target and basic.target
	// pull in, and those expand %t too: gpg-agent's sockets fail to parse
	// ("File name too long") under a runtime directory as long as
	// t.TempDir()'s. Keep it short.
	runtimeDir, err := os.MkdirTemp("", "zv")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(runtimeDir) })
	writeGolden(t, unitDir, files)
	args := []string{"--user", "verify"}
	for _, s := range sites {
		args = append(args,
			filepath.Join(unitDir, "zsm@"+s.Name+".socket"),
			filepath.Join(unitDir, "zsm@"+s.Name+".service"))
	}
	cmd := exec.Command("systemd-analyze", args...)
	cmd.Env = append(os.Environ(),
		"SYSTEMD_UNIT_PATH="+unitDir+":",
		"XDG_RUNTIME_DIR="+runtimeDir,
		"SYSTEMD_LOG_COLOR=0",
	)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestSystemdVerify checks that systemd accepts every generated unit without
// a word: a misspelled key only warns, with exit status 0, so any output is
// a failure. verify also checks that ExecStart= names an executable, so the
// units run the test binary, once by its own path and once through a
// symlink in a directory whose name needs escaping.
func TestSystemdVerify(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze is not installed: cannot check the units with systemd itself")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	odd := filepath.Join(t.TempDir(), "zsm 1.0", "100% $dev")
	if err := os.MkdirAll(odd, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(odd, "zsm")); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, zsm string
	}{
		{"plain binary path", self},
		{"binary path with space, percent and dollar", filepath.Join(odd, "zsm")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := sampleConfig(samplePath)
			files, err := Generate(f, Options{ZSM: tc.zsm})
			if err != nil {
				t.Fatal(err)
			}
			out, err := verifyUnits(t, files, f.Sites)
			if err != nil || out != "" {
				t.Errorf("systemd-analyze --user verify: %v\n%s", err, out)
			}
		})
	}

	// The check must be able to fail: a bad key in any of the four kinds of
	// file has to show up in verify's output.
	for _, path := range []string{
		SocketTemplate,
		ServiceTemplate,
		"zsm@blog.socket.d/" + DropIn,
		"zsm@blog.service.d/" + DropIn,
	} {
		t.Run("catches a bad key in "+path, func(t *testing.T) {
			f := sampleConfig(samplePath)
			files, err := Generate(f, Options{ZSM: self})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for i := range files {
				if files[i].Path == path {
					files[i].Content = append(files[i].Content, "Bogus=1\n"...)
					found = true
				}
			}
			if !found {
				t.Fatalf("Generate made no %s", path)
			}
			out, _ := verifyUnits(t, files, f.Sites)
			if !strings.Contains(out, "Bogus") {
				t.Errorf("verify did not report Bogus=1 in %s; output:\n%s", path, out)
			}
		})
	}
}
