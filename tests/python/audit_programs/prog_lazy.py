import lazy_mod

print(lazy_mod.use())
