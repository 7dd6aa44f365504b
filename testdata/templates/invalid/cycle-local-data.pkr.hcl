# error: Cycle in locals and data sources
locals {
  a = data.test-data.d.id # <-- error
}
data "test-data" "d" {
  want = local.a
}
