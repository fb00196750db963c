package linger

import (
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
)

// DefaultDir is where logind keeps a file per lingering user.
const DefaultDir = "/var/lib/systemd/linger"

// EnvDir names the environment variable that replaces DefaultDir.
const EnvDir = "ZSM_LINGER_DIR"

// Dir returns the linger directory: $ZSM_LINGER_DIR, else DefaultDir.
func Dir() string {
	if d := os.Getenv(EnvDir); d != "" {
		return d
	}
	return DefaultDir
}

// Enabled reports whether name lingers: whether dir holds a file named
// after the user.
func Enabled(dir, name string) bool {
	_, err := os.Stat(filepath.Join(dir, name))
	return err == nil
}

// Username returns the name of the user running this process: the
// password database's, else $USER, else "" when neither says.
func Username() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}

// Notice is what prog tells name when name does not linger.
func Notice(prog, name string) string {
	return fmt.Sprintf("%s: note: lingering is off for user %s: systemd stops %s's units, and the sites with them, when %s's last session ends.\n"+
		"%s: to keep them running after logout, run: loginctl enable-linger %s\n", prog, name, name, name, prog, name)
}

// Warn writes the Notice to w when the user running this process does not
// linger (Dir says where to look), and reports whether it did. It says
// nothing when it cannot tell who the user is.
func Warn(w io.Writer, prog string) bool {
	name := Username()
	if name == "" || Enabled(Dir(), name) {
		return false
	}
	fmt.Fprint(w, Notice(prog, name))
	return true
}
