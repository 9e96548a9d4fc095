"""enum: Enum, IntEnum, Flag, StrEnum, auto, unique, functional API."""
import enum


@enum.unique
class Color(enum.Enum):
    RED = enum.auto()
    GREEN = enum.auto()


class Perm(enum.Flag):
    R = 4
    W = 2
    X = 1


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Mode(enum.StrEnum):
    FAST = enum.auto()


Animal = enum.Enum("Animal", "CAT DOG")
print(Color.RED, Color(2), Perm.R | Perm.W, Level.HIGH > Level.LOW)
print(Mode.FAST, list(Animal), Color["GREEN"].value, Perm(7))
