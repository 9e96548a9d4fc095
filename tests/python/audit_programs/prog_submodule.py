import pkg_a
import pkg_a.sub

print(pkg_a.sub.SUB)
