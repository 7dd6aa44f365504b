# error: Invalid pause_before
source "test-builder" "a" {
  image = "x"
}
build {
  sources = ["source.test-builder.a"]
  provisioner "test-prov" {
    inline       = ["x"]
    pause_before = "soon" # <-- error
  }
}
