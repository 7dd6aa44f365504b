# error: Unknown builder type "test-buildr"
source "test-buildr" "a" { # <-- error
  image = "x"
}
