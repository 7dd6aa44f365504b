# error: Did you mean "image"?
variable "image" {
  default = "x"
}
source "test-builder" "a" {
  image = var.imag # <-- error
}
build {
  sources = ["source.test-builder.a"]
}
