// Package bounded hands values to a consumer that may stall, without ever
// stalling the producer: a buffer of fixed size in front of a goroutine
// that delivers, and a count of what did not fit. The broker's events and
// its workers' output lines go to the journal, syslog or a file this way,
// so that a destination that stops reading costs lines, never requests.
package bounded
