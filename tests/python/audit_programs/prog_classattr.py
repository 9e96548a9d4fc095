import counter_mod

counter_mod.Point.x = 5
counter_mod.Point.y = 1
del counter_mod.Point.y
print(counter_mod.Point.x)
