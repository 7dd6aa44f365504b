# error: Unknown data source type "test-dat"
data "test-dat" "x" { # <-- error
  want = "a"
}
