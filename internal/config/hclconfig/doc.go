// Package hclconfig decodes a zsm configuration file, written in HCL
// (https://github.com/hashicorp/hcl), into validated config.File values.
//
// Every key is documented in docs/config.md. Decoding reports every problem
// of a file in one pass, each with the file:line:col of the offending text;
// Error renders them with the source line, the way compilers do.
//
// The work is split in two. This package checks what is syntax and type:
// unknown keys and blocks, a block given twice, values that are not
// literals or not of the key's type, durations, sizes, addresses and port
// lists it cannot read. The rules of a site (what values are allowed, and
// how they relate) are config.Site.Validate's: each site starts from
// config.Default, is decoded, then validated, and each config.Problem is
// reported where the key it names is written, or where the nearest block
// around it is when the key was left out. What spans sites (a site name or
// an address used twice) is reported here with where each was first
// written; config.File.Validate holds the same rules for other callers.
// What config.Site.Warnings finds does not stop the file: Parse returns
// it in config.File.Warnings, each with its file:line:col.
//
// No file, however written, may take the decoder more than bounded time
// and memory: a broker reloading a bad file keeps its running generation.
// Before HCL sees a file, one pass over its bytes checks it against the
// limits (MaxFileSize, MaxTokens, MaxDepth, MaxSites and the others in
// limits.go), which bound HCL's recursion and allocation. Values are
// literals: the decoder refuses operators, conditionals, for expressions
// and templates before evaluating anything, as they would let a few bytes
// ask for unbounded work.
//
// CheckSyntax applies the same limits and the same syntax check alone, for
// the formatter (package hclfmt, `zsmgen fmt`), which is a package of its
// own so that the broker's binary does not carry hclwrite.
package hclconfig
