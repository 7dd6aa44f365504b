# error: Did you mean "name"?
source "test-builder" "a" {
  image = "x"
}
build {
  nam     = "x" # <-- error
  sources = ["source.test-builder.a"]
}
