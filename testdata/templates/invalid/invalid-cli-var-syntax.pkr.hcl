# error: Invalid -var option
# var: novalue
source "test-builder" "a" {
  image = "x"
}
build {
  sources = ["source.test-builder.a"]
}
