# error: does not have
source "test-builder" "a" {
  image = "x"
}
build {
  sources = ["source.test-builder.a"]
  provisioner "test-prov" { # <-- error
    inline = ["x"]
    override = {
      "test-builder.a" = { inlinee = ["y"] }
    }
  }
}
