# error: image "bad" is not allowed
source "test-builder" "a" { # <-- error
  image = "bad"
}
build {
  sources = ["source.test-builder.a"]
}
