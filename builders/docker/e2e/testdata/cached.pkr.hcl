# The step cache's end-to-end template: four provisioners, the second
# uploading a folder, the third able to fail, the fourth's content set
# from outside.
variable "tag" {
  type = string
}

variable "repo" {
  type = string
}

# The folder the second provisioner uploads (tests copy it per run).
variable "files" {
  type = string
}

variable "last" {
  type    = string
  default = "last v1"
}

# The base image (a test may build on one of its own).
variable "base" {
  type    = string
  default = "imgbuild-base:latest"
}

variable "fail" {
  type    = bool
  default = false
}

source "docker" "cached" {
  image   = var.base
  pull    = false
  commit  = true
  changes = ["CMD [\"cat\", \"/etc/last\"]"]
}

build {
  sources = ["source.docker.cached"]

  # Each shell step prints a marker in capitals that its command line
  # (lower case) does not contain, so the output proves it ran.
  provisioner "shell" {
    inline = ["echo step-one-ran | tr a-z A-Z", "mkdir -p /opt/app", "echo one > /opt/app/one", "rm /bin/vi"]
  }

  provisioner "file" {
    source      = "${var.files}/"
    destination = "/opt/app/files"
  }

  provisioner "shell" {
    inline = [
      "echo step-three-ran | tr a-z A-Z",
      var.fail ? "exit 3" : "true",
      "cat /opt/app/files/* > /opt/app/combined",
    ]
  }

  provisioner "shell" {
    inline = ["echo step-four-ran | tr a-z A-Z", "echo '${var.last}' > /etc/last"]
  }

  post-processor "docker-tag" {
    repository = var.repo
    tags       = [var.tag]
  }
}
