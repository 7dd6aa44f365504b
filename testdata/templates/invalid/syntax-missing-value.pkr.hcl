# error: Invalid expression
source "test-builder" "a" {
  image = # <-- error
}
build {
  sources = ["source.test-builder.a"]
}
