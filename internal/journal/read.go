package journal

import (
	"context"
	"os/exec"
	"strings"
	"time"
)

// readTimeout bounds UnitError's journalctl.
const readTimeout = 2 * time.Second

// UnitError returns the first error-level line the journal holds about one
// start of a user unit (its invocation, systemd's USER_INVOCATION_ID=), in
// systemd's own words, the unit's name left out: "Failed to create
// listening socket (127.0.0.1:8080): Address already in use". It returns ""
// when there is none this user may read, when journalctl(1), which it
// runs, is missing or slow, or when invocationID is empty. zsm is built
// without cgo, so it cannot read journal files itself.
func UnitError(ctx context.Context, unit, invocationID string) string {
	if invocationID == "" {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "journalctl", "--no-pager", "--quiet", "--output=cat", "--priority=err",
		"USER_UNIT="+unit, "USER_INVOCATION_ID="+invocationID).Output()
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimPrefix(strings.TrimSpace(line), unit+": ")
}
