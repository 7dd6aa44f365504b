# error: Duplicate variable
variable "x" {
  default = 1
}
variable "x" { # <-- error
  default = 2
}
