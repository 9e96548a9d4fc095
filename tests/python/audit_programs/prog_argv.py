import sys

print(sys.argv)
print(__name__, __file__, __spec__, sys.path[0])
