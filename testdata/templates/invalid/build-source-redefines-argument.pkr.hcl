# error: can only set arguments the top-level source leaves unset
source "test-builder" "a" {
  image = "x"
}
build {
  source "source.test-builder.a" {
    name  = "b"
    image = "y" # <-- error
  }
}
