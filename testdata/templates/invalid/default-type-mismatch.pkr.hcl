# error: Invalid default value for variable
variable "n" {
  type    = number
  default = "abc" # <-- error
}
