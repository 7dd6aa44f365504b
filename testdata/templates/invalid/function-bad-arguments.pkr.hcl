# error: Invalid function argument
locals {
  x = abs("a") # <-- error
}
