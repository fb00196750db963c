site "text" {
  listen = ["127.0.0.1:8080"]
  command = ["./app", "two  spaces", "a\ttab", "    lead", "trail   "]
  environment = {
    BANNER = <<EOT
  indented   text

with a blank line above, and trailing spaces   
EOT
    "quoted key" = "x"
  }
}
