package config

import "fmt"

// MaxNameLength is the longest site name. A name ends up in three places,
// each with its own limit:
//
//   - a systemd unit instance and its drop-in directory,
//     "zsm@NAME.service.d": unit names hold at most 255 characters;
//   - a D-Bus bus name, "dev.zsm.Site.NAME" with NAME escaped as go-systemd's
//     PathBusEscape does (every byte but a letter or a digit becomes three
//     characters): bus names hold at most 255 characters, so NAME may take
//     (255-13)/3 = 80 characters at worst;
//   - the broker's control socket, $XDG_RUNTIME_DIR/zsm/NAME.control:
//     sun_path holds 107 bytes, of which "/run/user/4294967295/zsm/" and
//     ".control" take 33, leaving 74.
//
// 64 fits all three with room to spare, and is longer than any name a
// person types.
const MaxNameLength = 64

// CheckName reports whether name may name a site: 1 to MaxNameLength
// letters, digits, '-', '_' and '.', starting with a letter or a digit.
// Such a name is a systemd unit instance as written, with nothing to
// escape, so "zsm@NAME.socket" is what the user types (FACTS.md,
// "Instance names"). It returns nil or a Problem with Field "name".
func CheckName(name string) error {
	if p, ok := checkName(name); !ok {
		return p
	}
	return nil
}

// checkName is CheckName, with the problem as a Problem.
func checkName(name string) (Problem, bool) {
	bad := func(format string, args ...any) (Problem, bool) {
		return Problem{Field: "name", Summary: "Invalid site name", Detail: fmt.Sprintf(format, args...)}, false
	}
	if name == "" {
		return bad("The site name is empty: use letters, digits, '-', '_' and '.', starting with a letter or digit.")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '.' && c != '-') {
			return bad("Site name %q cannot become a unit name: use letters, digits, '-', '_' and '.', starting with a letter or digit.", name)
		}
	}
	if len(name) > MaxNameLength {
		return bad("Site name %q is longer than %d characters.", name, MaxNameLength)
	}
	return Problem{}, true
}
