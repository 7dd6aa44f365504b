# One or more functions from each family Packer documents.
locals {
  numeric    = [abs(-3), ceil(1.2), floor(1.8), max(1, 5), min(1, 5), pow(2, 3), parseint("ff", 16), signum(-2)]
  strings    = [upper("a"), lower("B"), title("hi there"), trimspace("  x "), replace("a-b", "-", "_"), format("%s=%d", "n", 3), join(",", ["a", "b"]), substr("hello", 1, 3), trimprefix("ab", "a"), trimsuffix("ab", "b"), chomp("x\n"), strrev("abc"), regex_replace("a1b2", "[0-9]", "")]
  split      = split(",", "a,b,c")
  collection = [length([1, 2]), element(["a", "b"], 1), index(["a", "b"], "b"), contains(["a"], "a")]
  merged     = merge({ a = 1 }, { b = 2 })
  keys       = keys({ b = 1, a = 2 })
  flat       = flatten([["a"], ["b", ["c"]]])
  distinct   = distinct(["a", "a", "b"])
  lookup     = lookup({ a = "x" }, "b", "fallback")
  concat     = concat(["a"], ["b"])
  coalesce   = coalesce("", "second")
  zipmap     = zipmap(["a", "b"], [1, 2])
  range      = range(3)
  slice      = slice(["a", "b", "c"], 1, 3)
  reverse    = reverse([1, 2, 3])
  sort       = sort(["b", "a"])
  setunion   = sort(tolist(setunion(["a"], ["b"])))
  json       = jsonencode({ a = [1, true] })
  fromjson   = jsondecode("{\"k\": \"v\"}")
  base64     = base64encode("hello")
  unbase64   = base64decode("aGVsbG8=")
  yaml       = yamldecode("a: 1")
  urlencode  = urlencode("a b")
  sha256     = sha256("abc")
  md5        = md5("abc")
  sha1       = sha1("abc")
  uuidv5     = uuidv5("dns", "example.com")
  uuid_len   = length(uuidv4())
  cidr       = cidrsubnet("10.0.0.0/16", 8, 2)
  cidrhost   = cidrhost("10.0.0.0/24", 5)
  tonumber   = tonumber("42")
  tostring   = tostring(42)
  tobool     = tobool("true")
  tolist     = tolist(["a"])
  tomap      = tomap({ a = "b" })
  toset      = length(toset(["a", "a"]))
  can_ok     = can(tonumber("x"))
  try_ok     = try(tonumber("x"), "fallback")
  file       = trimspace(file("${path.root}/data.txt"))
  fileexists = fileexists("${path.root}/data.txt")
  dir        = basename(dirname("${path.root}/data.txt"))
  abspath    = abspath(path.root) != ""
  fileset    = fileset(path.root, "*.txt")
  template   = trimspace(templatefile("${path.root}/greeting.pkrtpl.hcl", { name = "imgbuild", items = ["x", "y"] }))
  formatdate = formatdate("YYYY-MM-DD", "2024-03-05T10:00:00Z")
  timeadd    = timeadd("2024-01-01T00:00:00Z", "1h")
  isotime    = length(timestamp()) > 0
  legacy_iso = length(legacy_isotime("2006")) == 4
  strftime   = length(legacy_strftime("%Y")) == 4
  bcrypt_len = length(bcrypt("x")) > 0
  packer_ver = packer.version != ""
  conditional = 1 > 0 ? "yes" : "no"
  for_expr   = [for s in ["a", "b"] : upper(s)]
  for_map    = { for k, v in { a = 1 } : k => v * 2 }
  splat      = [{ n = "a" }, { n = "b" }][*].n
  heredoc    = <<-EOT
    line one
    line two
  EOT
}
