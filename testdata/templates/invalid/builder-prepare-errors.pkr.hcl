# error: image "bad" is not allowed
source "test-builder" "a" {
  image = "bad" # <-- error: at the option the message names
}
build {
  sources = ["source.test-builder.a"]
}
