# error: Duplicate source
source "test-builder" "a" {
  image = "x"
}
source "test-builder" "a" { # <-- error
  image = "y"
}
build {
  sources = ["source.test-builder.a"]
}
