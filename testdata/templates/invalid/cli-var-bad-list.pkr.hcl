# error: Missing expression
# var: l=[1,
variable "l" {
  type    = list(string)
  default = []
}
