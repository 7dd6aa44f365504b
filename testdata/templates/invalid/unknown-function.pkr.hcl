# error: Call to unknown function
locals {
  x = upperr("a") # <-- error
}
