# error: is not a duration
source "test-builder" "a" {
  image   = "x"
  timeout = "5 minutes" # <-- error
}
build {
  sources = ["source.test-builder.a"]
}
