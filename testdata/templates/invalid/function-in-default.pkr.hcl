# error: There is no function named "upper"
variable "name" {
  default = upper("x") # <-- error
}
