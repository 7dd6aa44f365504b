# error: The image must come from our registry.
variable "image" {
  type    = string
  default = "docker.io/alpine" # <-- error
  validation {
    condition     = startswith(var.image, "registry.local/")
    error_message = "The image must come from our registry."
  }
}
