# error: Inappropriate value for attribute "changes"
source "test-builder" "a" {
  image   = "x"
  changes = ["a", ["b"]] # <-- error
}
build {
  sources = ["source.test-builder.a"]
}
