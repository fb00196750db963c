// Package loadgen is steady HTTP load for zsm's tests and benchmarks that
// counts failures honestly: requests are written on raw connections and read
// back with http.ReadResponse, so nothing is retried behind the caller's
// back (net/http's client silently retries an idempotent request once on a
// reused connection that broke). Every error and every non-200 is a failure.
package loadgen
