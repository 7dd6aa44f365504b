# error: This object does not have an attribute named "nope"
source "test-builder" "a" {
  image = local.nope # <-- error
}
build {
  sources = ["source.test-builder.a"]
}
