# The imgbuild demo (`make demo`): a Docker image built from the local
# busybox base image with shell and file provisioners, tagged, and
# recorded in a manifest. The same file runs unchanged with Packer and its
# docker plugin, except that Packer's image would start /bin/sh with the
# CMD as arguments (its build entrypoint stays in the image); imgbuild's
# keeps the CMD below.

packer {
  required_plugins {
    docker = {
      version = ">= 1.0.0"
      source  = "github.com/hashicorp/docker"
    }
  }
}

variable "repository" {
  type        = string
  default     = "imgbuild-hello"
  description = "The repository docker-tag tags the image into (as :latest)."
}

variable "greeting" {
  type        = string
  default     = "Hello from imgbuild"
  description = "The first line of /hello.txt."
}

source "docker" "hello" {
  # scripts/test-setup.sh makes this image locally; nothing is pulled.
  image  = "imgbuild-base:latest"
  pull   = false
  commit = true
  changes = [
    "ENV GREETING=\"${var.greeting}\"",
    "WORKDIR /srv/hello",
    "LABEL org.opencontainers.image.title=imgbuild-hello",
    "CMD [\"cat\", \"/hello.txt\"]",
  ]
}

build {
  sources = ["source.docker.hello"]

  # The contents of files/ (trailing slash) go into /srv/hello.
  provisioner "file" {
    source      = "${path.root}/files/"
    destination = "/srv/hello/"
  }

  provisioner "shell" {
    environment_vars = ["GREETING=${var.greeting}"]
    inline = [
      "sh /srv/hello/make-hello.sh > /hello.txt",
      "cat /hello.txt",
    ]
  }

  post-processors {
    post-processor "docker-tag" {
      repository = var.repository
      tags       = ["latest"]
    }
    post-processor "manifest" {
      output     = "manifest.json"
      strip_path = true
    }
  }
}
