package checksum
