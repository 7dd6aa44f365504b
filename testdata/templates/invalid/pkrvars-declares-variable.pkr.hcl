# error: Variable declaration in a .pkrvars file
# var-file: pkrvars-declares-variable.vars.hcl
variable "x" {
  default = 1
}
