# error: The image must come from our registry.
# var: image=docker.io/alpine
variable "image" {
  type    = string
  default = "registry.local/base"
  validation {
    condition     = startswith(var.image, "registry.local/") # <-- error
    error_message = "The image must come from our registry."
  }
}
