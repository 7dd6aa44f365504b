# error: is not nullable
# var-file: null-not-nullable.vars.hcl
variable "x" {
  type     = string
  nullable = false
}
