# error: Invalid variable name
variable "1abc" { # <-- error
  default = 1
}
