from_file      = "file"
cli_beats_file = "file"
