data "test-data" "first" {
  want = "a"
}
data "test-data" "second" {
  want = data.test-data.first.id
}
locals {
  derived = "${data.test-data.second.id}!"
}
source "test-builder" "d" {
  image = local.derived
}
build {
  sources = ["source.test-builder.d"]
}
