# error: Inappropriate value for attribute "pull"
source "test-builder" "a" {
  image = "x"
  pull  = "maybe" # <-- error
}
build {
  sources = ["source.test-builder.a"]
}
