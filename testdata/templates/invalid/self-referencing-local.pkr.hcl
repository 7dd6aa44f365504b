# error: local.a -> local.a
locals {
  a = "${local.a}-x" # <-- error
}
