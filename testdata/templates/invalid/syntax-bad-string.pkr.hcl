# error: Invalid multi-line string
source "test-builder" "a" {
  image = "abc # <-- error
def"
}
build {
  sources = ["source.test-builder.a"]
}
