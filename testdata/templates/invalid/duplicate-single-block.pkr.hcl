# error: Duplicate filter block
source "test-builder" "a" {
  image = "x"
  filter "f" {
  }
  filter "g" { # <-- error
  }
}
build {
  sources = ["source.test-builder.a"]
}
