# error: Invalid validation error message
variable "image" {
  default = "x"
  validation {
    condition     = var.image == "x"
    error_message = "must be x" # <-- error
  }
}
