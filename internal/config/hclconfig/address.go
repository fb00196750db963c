package hclconfig

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/zsm-dev/zsm/internal/config"
)

// ParseAddress reads an address as the configuration writes them (listen,
// status.listen): "HOST:PORT", "[IPv6]:PORT", ":PORT" or "unix:PATH". It
// is config.ParseAddress.
func ParseAddress(s string) (config.Address, error) { return config.ParseAddress(s) }

// parsePorts reads the syntax of backend ports: "9001", "9001-9004" or
// "9001,9003,9010-9012", in the order written. Which ports are allowed, and
// how many, is config.Site.Validate's to say; parsePorts stops adding ports
// one past config.MaxBackends, so that "1-4000000000" cannot fill memory.
func parsePorts(s string) ([]int, error) {
	var ports []int
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		first, err1 := strconv.Atoi(strings.TrimSpace(lo))
		last, err2 := first, error(nil)
		if isRange {
			last, err2 = strconv.Atoi(strings.TrimSpace(hi))
		}
		if err1 != nil || err2 != nil || first > last {
			return nil, fmt.Errorf("ports = %q: want ports from 1 to 65535, as in \"9001-9004\" or \"9001,9003\"", s)
		}
		for p := first; len(ports) <= config.MaxBackends; p++ {
			ports = append(ports, p)
			if p == last {
				break
			}
		}
	}
	return ports, nil
}
