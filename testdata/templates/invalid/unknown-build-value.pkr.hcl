# error: does not have an attribute named "Nope"
source "test-builder" "a" {
  image = "x"
}
build {
  sources = ["source.test-builder.a"]
  provisioner "test-prov" {
    inline = ["echo ${build.Nope}"] # <-- error
  }
}
