# error: Did you mean "inline"?
source "test-builder" "a" {
  image = "x"
}
build {
  sources = ["source.test-builder.a"]
  provisioner "test-prov" {
    inlin = ["echo"] # <-- error
  }
}
