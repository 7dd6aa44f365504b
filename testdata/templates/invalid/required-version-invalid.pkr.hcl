# error: Invalid required_version
packer {
  required_version = "about two" # <-- error
}
