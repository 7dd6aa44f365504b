# error: Inappropriate value for attribute "count"
source "test-builder" "a" {
  image = "x"
  count = "many" # <-- error
}
build {
  sources = ["source.test-builder.a"]
}
