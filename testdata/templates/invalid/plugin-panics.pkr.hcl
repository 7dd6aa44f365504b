# error: Internal error in a plugin
source "test-panics" "a" { # <-- error
  image = "x"
}
build {
  sources = ["source.test-panics.a"]
}
