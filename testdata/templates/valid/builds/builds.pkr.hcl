# Sources, a named and an unnamed build, build-level overrides, only /
# except / override on provisioners, post-processor chains, dynamic blocks.
variable "tag" {
  default = "v1"
}
locals {
  image = "base:${var.tag}"
}
source "test-builder" "one" {
  image   = local.image
  timeout = "2m"
  ssh_timeout = 30
  labels  = { role = source.name }
  dynamic "device" {
    for_each = { sda = 8, sdb = 16 }
    content {
      device_name = device.key
      volume_size = device.value
    }
  }
}
source "test-builder" "two" {
  image = "other"
  pull  = true
}
build {
  sources = ["source.test-builder.one", "source.test-builder.two"]
  provisioner "test-prov" {
    inline = ["echo ${source.name} ${build.ID}"]
  }
  provisioner "test-prov" {
    name         = "only-one"
    only         = ["test-builder.one"]
    inline       = ["one only"]
    pause_before = "5s"
    max_retries  = 2
    timeout      = "1m"
  }
  provisioner "test-prov" {
    except = ["test-builder.one"]
    inline = ["not one"]
  }
  provisioner "test-prov" {
    inline = ["default"]
    override = {
      "test-builder.two" = { inline = ["overridden for two"] }
    }
  }
  error-cleanup-provisioner "test-prov" {
    inline = ["cleanup"]
  }
  post-processor "test-pp" {
    output = "single-${build.name}"
  }
  post-processors {
    post-processor "test-pp" {
      output              = "chain-1"
      keep_input_artifact = true
    }
    post-processor "test-pp" {
      output = "chain-2"
      only   = ["test-builder.two"]
    }
  }
}
build {
  name        = "named"
  description = "A named build with an overridden source."
  source "source.test-builder.one" {
    name  = "renamed"
    count = 3
  }
  provisioner "test-prov" {
    script = "s-${source.name}-${build.name}"
  }
}
build {
  name = "hcp"
  sources = ["source.test-builder.two"]
  hcp_packer_registry {
    bucket_name = "ignored"
  }
}
