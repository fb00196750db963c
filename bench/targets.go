package main

import (
	"fmt"
	"math"
)

// A Target is what a figure should reach: Value with Op (">=" or "<=").
type Target struct {
	Op    string  `json:"op"`
	Value float64 `json:"value"`
	// Text says it for people, e.g. "≥ 0.90× direct".
	Text string `json:"text"`
}

// atLeast and atMost build targets; text is what follows the bound, e.g.
// "× direct" or " ms".
func atLeast(v float64, format string, args ...any) Target {
	return Target{Op: ">=", Value: v, Text: "≥ " + fmt.Sprintf(format, args...)}
}

func atMost(v float64, format string, args ...any) Target {
	return Target{Op: "<=", Value: v, Text: "≤ " + fmt.Sprintf(format, args...)}
}

// Met reports whether v reaches the target. NaN (not measured) never does.
func (t Target) Met(v float64) bool {
	if math.IsNaN(v) {
		return false
	}
	switch t.Op {
	case ">=":
		return v >= t.Value
	case "<=":
		return v <= t.Value
	}
	return false
}

// A ratioTarget asks name's figure to be at least Min times peer's.
type ratioTarget struct {
	peer string
	min  float64
}

// throughputTargets are the targets for req/s, as ratios to other
// targets of the same run with the same kind of connection. Proxy mode's
// target against haproxy is proxyVsHAProxyMin, checked by proxyVsHAProxy
// over more rounds.
func throughputTargets(conn, name string) []ratioTarget {
	switch name {
	case "handoff":
		if conn == keepAlive {
			return []ratioTarget{{"direct", 0.98}}
		}
		return []ratioTarget{{"direct", 0.85}, {"haproxy", 1.3}, {"nginx", 1.0}}
	case "listen":
		if conn == keepAlive {
			return []ratioTarget{{"direct", 0.98}}
		}
		return []ratioTarget{{"direct", 0.95}}
	case "proxy":
		return []ratioTarget{{"socket-proxyd", 1.7}}
	}
	return nil
}

// proxyVsHAProxyMin is the target for proxy mode: at least
// haproxy's req/s, whatever the load.
var proxyVsHAProxyMin = []ratioTarget{{targetHAProxy, 1.0}}

// Targets of the other scenarios.
const (
	// coldRatioMax is how much longer than the app's own cold start under
	// plain systemd socket activation a cold start through the broker may
	// take; sitesGrowthMax, how much longer a site's cold start may take
	// when its file holds -sites sites than when it is alone in its file.
	coldRatioMax   = 1.2
	sitesGrowthMax = 1.2
	// warmAddedMax is how much a warm handoff may add to the p50 latency
	// of a direct request (connect to first byte).
	warmAddedMax = 50.0 // µs
	// reloadThroughputMin and reloadP99Max compare a run with reloads to a
	// steady run of the same length (DESIGN.md: within 3% and 1.2×).
	reloadThroughputMin = 0.97
	reloadP99Max        = 1.2
	// rssMax is the broker's resident memory at rssWorkers workers.
	rssMax     = 20.0 // MiB
	rssWorkers = 64
)
