package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "-buildmode", Value: "exe"}, {Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: rev}, {Key: "vcs.time", Value: "2026-12-05T08:34:07Z"}, {Key: "vcs.modified", Value: modified}}
	}
	tests := []struct {
		name string
		bi   debug.BuildInfo
		want Info
		line string
	}{
		{"go install of a tag", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"}},
			Info{Version: "v1.2.0", Go: "go1.26.8"}, "v1.2.0 (go1.26.8)"},
		{"make build in a clean clone", debug.BuildInfo{GoVersion: "go1.26.8",
			Main:     debug.Module{Version: "v0.0.0-20261205083407-01cfce6c5b7f"},
			Settings: vcs("01cfce6c5b7f7db9e0576bb8e5f089d304afdffe", "false")},
			Info{Version: "v0.0.0-20261205083407-01cfce6c5b7f", Revision: "01cfce6c5b7f7db9e0576bb8e5f089d304afdffe", Go: "go1.26.8"},
			"v0.0.0-20261205083407-01cfce6c5b7f (revision 01cfce6c5b7f, go1.26.8)"},
		{"a work tree with changes", debug.BuildInfo{GoVersion: "go1.26.8",
			Main:     debug.Module{Version: "v0.0.0-20261205083407-01cfce6c5b7f+dirty"},
			Settings: vcs("01cfce6c5b7f7db9e0576bb8e5f089d304afdffe", "true")},
			Info{Version: "v0.0.0-20261205083407-01cfce6c5b7f+dirty", Revision: "01cfce6c5b7f7db9e0576bb8e5f089d304afdffe", Modified: true, Go: "go1.26.8"},
			"v0.0.0-20261205083407-01cfce6c5b7f+dirty (revision 01cfce6c5b7f, modified, go1.26.8)"},
		{"-buildvcs=false", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			Info{Version: "devel", Go: "go1.26.8"}, "devel (go1.26.8)"},
		{"nothing recorded", debug.BuildInfo{}, Info{Version: "devel"}, "devel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FromBuildInfo(&tt.bi)
			if got != tt.want {
				t.Errorf("FromBuildInfo = %+v, want %+v", got, tt.want)
			}
			if s := got.String(); s != tt.line {
				t.Errorf("String = %q, want %q", s, tt.line)
			}
		})
	}
}

// TestRead: a test binary has build info, which names its toolchain.
func TestRead(t *testing.T) {
	i := Read()
	if i.Version == "" || !strings.HasPrefix(i.Go, "go1.") {
		t.Errorf("Read() = %+v: want a version and the toolchain", i)
	}
}
