from_auto        = "auto"
from_file        = "auto"
nullable_default = null
