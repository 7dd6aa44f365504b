# error: Did you mean "name"?
source "test-builder" "a" {
  image = "x-${source.nam}" # <-- error
}
build {
  sources = ["source.test-builder.a"]
}
