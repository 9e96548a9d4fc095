import selfish_mod

selfish_mod.N = 1  # after its own freeze(): freezing refuses this
