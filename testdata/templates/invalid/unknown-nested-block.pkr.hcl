# error: Unsupported block type
source "test-builder" "a" {
  image = "x"
  filterr "f" { # <-- error
  }
}
build {
  sources = ["source.test-builder.a"]
}
