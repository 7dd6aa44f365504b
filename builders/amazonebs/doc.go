package amazonebs
