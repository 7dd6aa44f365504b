# error: Build without sources
build { # <-- error
  name = "empty"
}
