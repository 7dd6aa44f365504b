# error: local.a -> local.b -> local.a
locals {
  a = local.b # <-- error
  b = local.a
}
