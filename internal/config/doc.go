// Package config holds a zsm site configuration as plain, validated data:
// what the broker and the unit generator work from. It does not parse
// anything; package hclconfig decodes the HCL file (docs/config.md) into it.
package config
