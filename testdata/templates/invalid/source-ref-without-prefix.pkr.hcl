# error: Invalid source reference
source "test-builder" "a" {
  image = "x"
}
build {
  sources = ["test-builder.a"] # <-- error
}
