package snapshot

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/zsm-dev/zsm/internal/config"
)

// Snapshot is what is saved of a site.
type Snapshot struct {
	Version int          // Version
	Config  string       // the file it came from, absolute
	Source  string       // Digest of the file and home it was decoded from; empty in version 1
	Saved   time.Time    // when
	Site    *config.Site // as it loaded
}

// Version is the version of the snapshots Save writes; Load also reads
// version 1, which has no Source.
const Version = 2

// Dir is where zsm keeps what must survive a broker: $XDG_STATE_HOME/zsm,
// else ~/.local/state/zsm, else the runtime directory's zsm.
func Dir(runtimeDir string) string {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "zsm")
	}
	if h, err := os.UserHomeDir(); err == nil && filepath.IsAbs(h) {
		return filepath.Join(h, ".local", "state", "zsm")
	}
	return filepath.Join(runtimeDir, "zsm")
}

// Digest names what a site was decoded from: the file's absolute path, its
// bytes, and the home directory a leading "~" expanded to.
func Digest(path, home string, src []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d:%s%d:%s", len(path), path, len(home), home)
	h.Write(src)
	return hex.EncodeToString(h.Sum(nil))
}

func pathOf(dir, site string) string { return filepath.Join(dir, site+".last.json") }

// Save keeps site, decoded from the file at path whose Digest is source,
// in dir. The copy is written whole to a temporary file and renamed into
// place, so that a reader never sees half of one.
func Save(dir, path, source string, site *config.Site) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(Snapshot{Version: Version, Config: path, Source: source, Saved: time.Now().UTC(), Site: site}, "", "  ")
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
	return os.Rename(tmp.Name(), pathOf(dir, site.Name))
}

// Load returns the saved copy of site name from the file at path.
func Load(dir, path, name string) (*Snapshot, error) {
	f, err := os.OpenFile(pathOf(dir, name), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var s Snapshot
	if err := json.NewDecoder(f).Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	switch {
	case (s.Version != Version && s.Version != 1) || s.Site == nil:
		return nil, fmt.Errorf("%s: not a version %d snapshot", f.Name(), Version)
	case s.Config != path || s.Site.Name != name:
		return nil, errors.New("the saved copy is of another file or site")
	}
	if err := s.Site.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return &s, nil
}

// Current returns the saved copy of site name when it was decoded from
// exactly source (Digest), else nil.
func Current(dir, path, name, source string) *config.Site {
	s, err := Load(dir, path, name)
	if err != nil || s.Version != Version || s.Source != source {
		return nil
	}
	return s.Site
}
