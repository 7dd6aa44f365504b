# error: Did you mean "default"?
variable "x" {
  defualt = 1 # <-- error
}
