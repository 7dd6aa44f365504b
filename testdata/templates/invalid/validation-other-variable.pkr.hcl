# error: Invalid reference in variable validation
variable "other" {
  default = "x"
}
variable "image" {
  default = "x"
  validation {
    condition     = var.other == "x" # <-- error
    error_message = "Must be x."
  }
}
