# error: Undefined -var variable
# var: nope=1
source "test-builder" "a" {
  image = "x"
}
build {
  sources = ["source.test-builder.a"]
}
