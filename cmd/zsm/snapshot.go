package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/zsm-dev/zsm/internal/config"
)

// A site's last configuration that loaded is kept, so that an edit that
// breaks the file never takes the site down: a broker that starts (on a
// connection, a restart, after exiting idle) with a file that does not load
// runs the saved copy, and says so, until a reload loads the file again.

// snapshot is what is saved of a site.
type snapshot struct {
	Version int          // snapshotVersion
	Config  string       // the file it came from
	Saved   time.Time    // when
	Site    *config.Site // as it loaded
}

const snapshotVersion = 1

// stateDir is where zsm keeps what must survive a broker: $XDG_STATE_HOME/zsm,
// else ~/.local/state/zsm, else the runtime directory's zsm.
func stateDir(runtimeDir string) string {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "zsm")
	}
	if h, err := os.UserHomeDir(); err == nil && filepath.IsAbs(h) {
		return filepath.Join(h, ".local", "state", "zsm")
	}
	return filepath.Join(runtimeDir, "zsm")
}

func snapshotPath(dir, site string) string { return filepath.Join(dir, site+".last.json") }

// saveSnapshot keeps site, loaded from the file at path, in dir.
func saveSnapshot(dir, path string, site *config.Site) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(snapshot{Version: snapshotVersion, Config: path, Saved: time.Now().UTC(), Site: site}, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+site.Name+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), snapshotPath(dir, site.Name))
}

// loadSnapshot returns the saved copy of site name from the file at path.
func loadSnapshot(dir, path, name string) (*snapshot, error) {
	f, err := os.OpenFile(snapshotPath(dir, name), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var s snapshot
	if err := json.NewDecoder(f).Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	switch {
	case s.Version != snapshotVersion || s.Site == nil:
		return nil, fmt.Errorf("%s: not a version %d snapshot", f.Name(), snapshotVersion)
	case s.Config != path || s.Site.Name != name:
		return nil, errors.New("the saved copy is of another file or site")
	}
	if err := s.Site.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return &s, nil
}
