# error: Duplicate local
locals {
  x = 1
}
locals {
  x = 2 # <-- error
}
