size = "large" # <-- error
