package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// median returns the median of xs (the mean of the middle two for an even
// count), or NaN for none. xs is not modified.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// medianDuration is median for durations.
func medianDuration(ds []time.Duration) time.Duration {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	m := median(xs)
	if math.IsNaN(m) {
		return 0
	}
	return time.Duration(m)
}

// percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method, or 0 for none.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// ratio is a/b, or NaN when either is not a positive, finite number.
func ratio(a, b float64) float64 {
	if !(a >= 0) || !(b > 0) || math.IsInf(a, 0) || math.IsInf(b, 0) {
		return math.NaN()
	}
	return a / b
}

// rotate returns xs rotated left by r: round r of a rotation starts with
// xs[r % len(xs)], so that no entry always runs first.
func rotate[T any](xs []T, r int) []T {
	if len(xs) == 0 {
		return nil
	}
	r %= len(xs)
	return append(slices.Clone(xs[r:]), xs[:r]...)
}

// pairedRatios is a's req/s over b's in each round that measured both.
func pairedRatios(rounds []map[string]loadResult, a, b string) []float64 {
	var rs []float64
	for _, round := range rounds {
		ra, okA := round[a]
		rb, okB := round[b]
		if !okA || !okB {
			continue
		}
		if r := ratio(ra.ReqPerSec, rb.ReqPerSec); !math.IsNaN(r) {
			rs = append(rs, r)
		}
	}
	return rs
}

// spread shows the range of ratios: "0.91–1.04×", or "" for none.
func spread(xs []float64) string {
	if len(xs) == 0 {
		return ""
	}
	lo, hi := slices.Min(xs), slices.Max(xs)
	if lo == hi {
		return formatValue(lo, "x")
	}
	return fmt.Sprintf("%.2f–%.2f×", lo, hi)
}
