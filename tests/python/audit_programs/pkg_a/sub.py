SUB = 2
