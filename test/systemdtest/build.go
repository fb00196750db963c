package systemdtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"sync"
	"testing"
)

// built holds what BuildBinaries built. It is the package's only state: the
// commands are built once per test binary, not once per test.
var built struct {
	once sync.Once
	dir  string
	err  error
	tmp  string // removed by Main after the tests; "" inside the harness
}

// BuildBinaries builds every command of the module and the example worker
// (`go build ./cmd/... ./contrib/workers/hello`, with -race if the test
// binary has it) into a temporary directory, once per test binary, and
// returns that directory: the binaries are named after their package
// directories, e.g. filepath.Join(dir, "zsm") and filepath.Join(dir, "hello"). It fails the test if
// the build fails or there is nothing to build. The directory lives until the
// tests end; it is removed by the harness or, outside it, by [Main] or
// [MainWithout]. Callers
// must not modify it.
func BuildBinaries(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = buildCommands()
	})
	if built.err != nil {
		t.Fatalf("BuildBinaries: %v", built.err)
	}
	return built.dir
}

func buildCommands() (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	var dir string
	if h := os.Getenv(envDir); h != "" {
		dir, err = os.MkdirTemp(h, "bin-")
	} else {
		dir, err = os.MkdirTemp("", "zsmtest-bin-")
		built.tmp = dir
	}
	if err != nil {
		return "", err
	}
	return dir, goBuild(root, dir, raceEnabled())
}

// goBuild builds the main packages under root/cmd into out.
func goBuild(root, out string, race bool) error {
	if _, err := os.Stat(filepath.Join(root, "cmd")); err != nil {
		return fmt.Errorf("no commands to build: %w", err)
	}
	args := []string{"build", "-o", out + string(filepath.Separator)}
	if race {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/...")
	if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(helloPkg))); err == nil {
		args = append(args, helloPkg)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %v in %s: %w\n%s", args, root, err, msg)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return errors.New("go build built no commands")
	}
	return nil
}

// helloPkg is the example worker the integration tests run.
const helloPkg = "./contrib/workers/hello"

// raceEnabled reports whether this binary was built with -race.
func raceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// removeBuildDir removes what BuildBinaries built outside the harness.
func removeBuildDir() {
	if built.tmp != "" {
		os.RemoveAll(built.tmp)
	}
}
