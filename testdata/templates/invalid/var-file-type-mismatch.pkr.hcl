# error: The value for size set in a var file is not compatible
# var-file: var-file-type-mismatch.vars.hcl
variable "size" {
  type = number
}
