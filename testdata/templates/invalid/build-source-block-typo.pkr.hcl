# error: Did you mean "image"?
source "test-builder" "a" {
  image = "x"
}
build {
  source "source.test-builder.a" {
    imag = "y" # <-- error
  }
}
