# error: Did you mean "image"?
source "test-builder" "a" {
  image  = "x"
  imagee = "y" # <-- error
}
build {
  sources = ["source.test-builder.a"]
}
