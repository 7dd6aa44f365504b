# error: There is no function named "env". env can only be called in a variable's default
variable "home" {
  default = env("HOME")
}
locals {
  home = env("HOME") # <-- error
}
