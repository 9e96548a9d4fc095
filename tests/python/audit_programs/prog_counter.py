import counter_mod

for _ in range(1000):
    counter_mod.bump()
print("n =", counter_mod.n)
