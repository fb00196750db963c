# A comment before everything,
# over two lines.

// A site, with a C++ comment.
site "blog" { # after the brace
  /* a block comment
     over two lines,   with    its spaces */
  listen = ["127.0.0.1:8080"] # trailing
  command = ["./blog"]        // trailing, C++
  mode = /* inside */ "handoff"

  # before a block
  pool {
    max = 4 # four
    # last in the block
  }
  # last in the site
}
# the last line, without a line end
# comment