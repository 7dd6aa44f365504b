x = null # <-- error
