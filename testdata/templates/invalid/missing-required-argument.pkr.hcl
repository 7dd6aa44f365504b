# error: The argument "image" is required
source "test-builder" "a" { # <-- error
  count = 1
}
build {
  sources = ["source.test-builder.a"]
}
