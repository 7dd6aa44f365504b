# error: Unknown source test-builder.b
source "test-builder" "a" {
  image = "x"
}
build {
  sources = ["source.test-builder.b"] # <-- error
}
