# Variables of every type constraint, with values from defaults, the
# environment, auto var files, -var-file and -var.
variable "plain" {
  default = "from-default"
}
# env() is callable in a default, and only there.
variable "from_env_func" {
  type    = string
  default = env("IMGBUILD_TEMPLATE_TEST_ENV")
}
variable "from_env" {
  type    = string
  default = "default"
}
variable "from_auto" {
  type    = string
  default = "default"
}
variable "from_file" {
  type    = string
  default = "default"
}
variable "from_cli" {
  type    = number
  default = 1
}
variable "cli_beats_file" {
  type = string
}
variable "list" {
  type    = list(string)
  default = ["a", "b"]
}
variable "map" {
  type    = map(number)
  default = { one = 1, two = 2 }
}
variable "set" {
  type    = set(string)
  default = ["b", "a", "b"]
}
variable "object" {
  type = object({
    name  = string
    size  = optional(number, 10)
    flags = optional(list(bool))
  })
  default = { name = "obj" }
}
variable "tuple" {
  type    = tuple([string, number, bool])
  default = ["x", 1, true]
}
variable "anything" {
  type    = any
  default = { nested = ["v"] }
}
variable "cli_list" {
  type    = list(string)
  default = []
}
variable "untyped_cli" {
  default = "x"
}
variable "nullable_default" {
  type     = string
  default  = "kept"
  nullable = false
}
variable "password" {
  type      = string
  default   = "hunter2-secret"
  sensitive = true
}
variable "validated" {
  type        = string
  default     = "ok-value"
  description = "Checked by two rules."
  validation {
    condition     = length(var.validated) > 2
    error_message = "The value must be longer than two characters."
  }
  validation {
    condition     = can(regex("^ok", var.validated))
    error_message = "The value must start with ok."
  }
}
variables {
  legacy = "from-variables-block"
  legacy_list = ["l1"]
}
variable "from_json_auto" {
  default = "default"
}
local "secret_token" {
  expression = "tok-${var.plain}"
  sensitive  = true
}
