# error: Inconsistent conditional result types
variable "x" {
  default = true
}
locals {
  y = var.x ? "a" : ["b"] # <-- error
}
