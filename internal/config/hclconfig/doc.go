// Package hclconfig decodes a zsm configuration file, written in HCL
// (https://github.com/hashicorp/hcl), into validated config.File values.
//
// Every key is documented in docs/config.md. Decoding reports every problem
// of a file in one pass, each with the file:line:col of the offending text;
// Error renders them with the source line, the way compilers do.
package hclconfig
