// Command zsm-exec is zsm's exec shim, which the broker runs to start each
// worker (package shim). It is not meant to be run by hand.
package main
