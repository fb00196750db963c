package version

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Info is what a build recorded about itself.
type Info struct {
	// Version is the main module's version: a tag (v1.2.0), a
	// pseudo-version of a build in a clone, or "devel" when none was
	// recorded.
	Version string
	// Revision is the commit the binary was built from, in full; "" when
	// not recorded.
	Revision string
	// Modified says the work tree held changes that are not in Revision.
	Modified bool
	// Go is the toolchain that built the binary: go1.26.8.
	Go string
}

// Read returns this binary's Info.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: devel}
	}
	return FromBuildInfo(bi)
}

// devel stands for a version the build did not record.
const devel = "devel"

// FromBuildInfo returns the Info that bi records.
func FromBuildInfo(bi *debug.BuildInfo) Info {
	i := Info{Version: bi.Main.Version, Go: bi.GoVersion}
	if i.Version == "" || i.Version == "(devel)" {
		i.Version = devel
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			i.Revision = s.Value
		case "vcs.modified":
			i.Modified = s.Value == "true"
		}
	}
	return i
}

// shortRevision is how many hex digits of the revision String shows, as
// Go's pseudo-versions do.
const shortRevision = 12

// String is the version in one line: "v1.2.0 (go1.26.8)", or, built in a
// clone, "v0.0.0-20261205083407-01cfce6c5b7f+dirty (revision
// 01cfce6c5b7f, modified, go1.26.8)".
func (i Info) String() string {
	var about []string
	if i.Revision != "" {
		about = append(about, "revision "+i.Revision[:min(len(i.Revision), shortRevision)])
	}
	if i.Modified {
		about = append(about, "modified")
	}
	if i.Go != "" {
		about = append(about, i.Go)
	}
	if len(about) == 0 {
		return i.Version
	}
	return fmt.Sprintf("%s (%s)", i.Version, strings.Join(about, ", "))
}
