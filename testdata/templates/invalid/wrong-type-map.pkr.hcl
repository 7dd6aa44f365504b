# error: Inappropriate value for attribute "labels"
source "test-builder" "a" {
  image  = "x"
  labels = ["a"] # <-- error
}
build {
  sources = ["source.test-builder.a"]
}
