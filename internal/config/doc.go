// Package config holds a zsm site configuration as plain data, and the
// rules it must follow: what the broker and the unit generator work from.
//
// Default is what a site starts from; Site.Validate checks every rule of
// one site, File.Validate what spans sites, and both report Problems that
// name the key at fault, so that a decoder can point at the text.
// Site.Warnings reports what does not stop a site from running but is
// left out of it: a status page on an address other hosts reach without
// status.public (Site.StatusAllowed). The package reads the syntax of
// single values (ParseSize, ParseAddress) but no file; package hclconfig
// decodes the HCL file (docs/config.md) into it and validates it with
// these rules.
package config
