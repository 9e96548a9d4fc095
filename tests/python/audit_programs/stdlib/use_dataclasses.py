"""dataclasses: fields, defaults, frozen, slots, replace, asdict."""
import dataclasses
from dataclasses import dataclass, field


@dataclass(order=True)
class Item:
    name: str
    tags: list = field(default_factory=list)
    price: float = 0.0


@dataclass(frozen=True, slots=True)
class Key:
    a: int
    b: "str" = "b"


i = Item("x", ["t"], 2.0)
print(i, dataclasses.asdict(i), dataclasses.replace(i, price=3.0) > i)
print(Key(1), hash(Key(1)) == hash(Key(1)), dataclasses.fields(Key)[0].name)
print(dataclasses.make_dataclass("Made", [("z", int)])(5))
