# error: Unsupported Packer Core version
packer {
  required_version = ">= 99.0.0" # <-- error
}
