# error: not compatible with the variable's type constraint
# var: n=abc
variable "n" {
  type    = number
  default = 1
}
