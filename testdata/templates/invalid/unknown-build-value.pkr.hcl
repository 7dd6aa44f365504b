# error: build has: ConnType, Host, ID, PackerHTTPAddr, PackerHTTPIP, PackerHTTPPort, PackerRunUUID, Password, Port, SSHPrivateKey, SSHPublicKey, SourceImageName, TestKey, User, WinRMPassword, name.
source "test-builder" "a" {
  image = "x"
}
build {
  sources = ["source.test-builder.a"]
  provisioner "test-prov" {
    inline = ["echo ${build.Nope}"] # <-- error
  }
}
