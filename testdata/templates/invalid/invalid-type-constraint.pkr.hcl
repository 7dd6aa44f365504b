# error: not a valid type
variable "x" {
  type = strin # <-- error
}
