# error: one of inline or script is required
source "test-builder" "a" {
  image = "x"
}
build {
  sources = ["source.test-builder.a"]
  provisioner "test-prov" { # <-- error
  }
}
