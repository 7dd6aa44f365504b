# error: Unknown post-processor type "test-p"
source "test-builder" "a" {
  image = "x"
}
build {
  sources = ["source.test-builder.a"]
  post-processor "test-p" { # <-- error
  }
}
