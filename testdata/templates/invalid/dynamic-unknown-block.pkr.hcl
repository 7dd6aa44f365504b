# error: Unsupported block type
source "test-builder" "a" {
  image = "x"
  dynamic "devicee" { # <-- error
    for_each = ["a"]
    content {
      device_name = devicee.value
    }
  }
}
build {
  sources = ["source.test-builder.a"]
}
