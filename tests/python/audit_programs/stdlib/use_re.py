"""re: compile, match, sub, split, flags, the cache, purge."""
import re

p = re.compile(r"(?P<word>\w+)-(\d+)", re.I)
m = p.search("see Item-42 now")
print(m.group("word"), m.groups(), p.sub(r"\2:\1", "a-1 b-2"))
print(re.findall(r"\d", "a1b2"), re.split(r"[,;]", "x,y;z"),
      re.fullmatch("a+", "aaa") is not None, re.escape("a.b"))
for i in range(600):  # past re's cache size
    re.match("x%d" % i, "x%d" % i)
re.purge()
print(list(re.finditer(r"b", "abcb"))[1].span(), re.subn("a", "b", "aa"))
