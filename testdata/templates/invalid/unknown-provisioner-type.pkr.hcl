# error: Unknown provisioner type "test-prv"
source "test-builder" "a" {
  image = "x"
}
build {
  sources = ["source.test-builder.a"]
  provisioner "test-prv" { # <-- error
  }
}
