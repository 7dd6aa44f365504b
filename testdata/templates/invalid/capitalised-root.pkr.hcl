# error: Did you mean "local"?
locals {
  name = "x"
  desc = "${Local.name}" # <-- error
}
