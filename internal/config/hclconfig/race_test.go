//go:build race

package hclconfig

// raceEnabled is set when the race detector, which slows code down
// several times, is on.
const raceEnabled = true
