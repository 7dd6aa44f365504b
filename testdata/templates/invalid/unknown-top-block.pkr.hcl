# error: Did you mean "source"?
sourcee "test-builder" "a" { # <-- error
  image = "x"
}
