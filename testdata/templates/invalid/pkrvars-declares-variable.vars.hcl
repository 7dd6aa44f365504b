variable "x" { # <-- error
  default = 2
}
