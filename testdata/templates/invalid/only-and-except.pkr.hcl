# error: only and except are both set
source "test-builder" "a" {
  image = "x"
}
build {
  sources = ["source.test-builder.a"]
  provisioner "test-prov" {
    inline = ["x"]
    only   = ["test-builder.a"]
    except = ["test-builder.b"] # <-- error
  }
}
