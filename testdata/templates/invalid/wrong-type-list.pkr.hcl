# error: Inappropriate value for attribute "changes"
source "test-builder" "a" {
  image   = "x"
  changes = "RUN x" # <-- error
}
build {
  sources = ["source.test-builder.a"]
}
