# error: The argument "want" is required
data "test-data" "x" { # <-- error
}
