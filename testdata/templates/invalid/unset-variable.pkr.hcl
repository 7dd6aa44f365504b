# error: Unset variable "image"
variable "image" { # <-- error
  type = string
}
source "test-builder" "a" {
  image = var.image
}
build {
  sources = ["source.test-builder.a"]
}
