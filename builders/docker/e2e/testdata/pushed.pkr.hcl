variable "repo" {
  type = string
}

variable "login" {
  type    = bool
  default = false
}

variable "server" {
  type    = string
  default = ""
}

variable "user" {
  type    = string
  default = ""
}

variable "password" {
  type      = string
  default   = ""
  sensitive = true
}

source "docker" "pushed" {
  image  = "imgbuild-base:latest"
  pull   = false
  commit = true
}

build {
  sources = ["source.docker.pushed"]

  provisioner "shell" {
    inline = ["echo pushed content > /pushed.txt"]
  }

  post-processors {
    post-processor "docker-tag" {
      repository = var.repo
      tags       = ["v1"]
    }
    post-processor "docker-push" {
      login          = var.login
      login_server   = var.server
      login_username = var.user
      login_password = var.password
    }
  }
}
