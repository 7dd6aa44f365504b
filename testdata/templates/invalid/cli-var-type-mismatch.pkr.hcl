# error: The value for n given with -var is not compatible with the variable's type constraint
# var: n=abc
variable "n" { # <-- error
  type    = number
  default = 1
}
