"""typing as a program uses it: generics, protocols, deprecated aliases,
get_type_hints()."""
import typing
import warnings
from typing import (Generic, NamedTuple, Protocol, TypedDict, TypeVar,
                    runtime_checkable)

T = TypeVar("T")


class Box(Generic[T]):
    def __init__(self, item: T) -> None:
        self.item = item


@runtime_checkable
class Sized(Protocol):
    def __len__(self) -> int: ...


class Point(NamedTuple):
    x: int
    y: int


class Movie(TypedDict):
    title: str
    year: int


def f(a: typing.Optional[typing.List[int]], b: "Box[str]") -> typing.Dict:
    return {}


print(typing.get_type_hints(f)["b"], Box[int](1).item, Point(1, 2))
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # ByteString
    print(isinstance([], Sized), typing.ByteString, typing.Pattern,
          typing.Match, typing.ContextManager)
print(typing.cast(int, "x"), typing.get_origin(typing.List[int]))
