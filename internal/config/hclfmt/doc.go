// Package hclfmt gives a config file its canonical layout, for `zsmgen
// fmt`: hclwrite's, plus gofmt's rules for blank lines, after the same
// limits and syntax check as hclconfig.Parse. It is apart from hclconfig
// so that the broker, which parses but never formats, does not link
// hclwrite (and, through it, go-cmp): fewer packages to initialize and
// pages to fault in on every cold start.
package hclfmt
