package null
