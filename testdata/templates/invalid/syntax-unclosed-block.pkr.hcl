# error: Unclosed configuration block
source "test-builder" "a" { # <-- error
  image = "x"
