variable "repo" {
  type = string
}

variable "label" {
  type = string
}

variable "keep" {
  type    = bool
  default = false
}

source "docker" "ppfails" {
  image   = "imgbuild-base:latest"
  pull    = false
  commit  = true
  changes = ["LABEL imgbuild-test=${var.label}"]
}

build {
  sources = ["source.docker.ppfails"]

  post-processors {
    post-processor "docker-tag" {
      repository = var.repo
      tags       = ["e2e"]
    }
    post-processor "shell-local" {
      inline              = ["echo the second post-processor fails on purpose", "exit 3"]
      keep_input_artifact = var.keep
    }
  }
}
