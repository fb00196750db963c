// Package snapshot keeps a copy of each site's configuration as it last
// loaded, in zsm's state directory, for two uses:
//
//   - A broker whose file no longer loads (a typo in an edit) runs the
//     copy, and says so, instead of taking the site down.
//   - A broker whose file has not changed since the copy was taken runs
//     the copy without parsing the file: a cold start then costs the same
//     whether the file holds one site or a thousand. zsmgen units takes
//     the copies of every site it writes units for, so the first cold
//     start already finds its site's.
//
// A copy records the file's path and a digest of the file's bytes (and of
// the home directory that "~" expands to): it stands for the file only
// while the file is byte for byte what it was.
package snapshot
