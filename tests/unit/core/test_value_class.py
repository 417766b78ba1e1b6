"""``lz.core.value_class`` behaves as ``@dataclass(frozen=True)`` where lz relies on it: each case
below builds the same class both ways and compares what they do."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import Any

import pytest

from lz.core import value_class as vc


def _pair() -> tuple[type[Any], type[Any]]:
    """The same class as a frozen dataclass and as a value class."""

    @dataclasses.dataclass(frozen=True)
    class Dc:
        name: str
        size: int = 1
        tags: dict[str, str] = dataclasses.field(default_factory=dict, metadata={"help": "tags"})

    @vc.value_class
    class Vc:
        name: str
        size: int = 1
        tags: dict[str, str] = vc.field(default_factory=dict, metadata={"help": "tags"})

    return Dc, Vc


@pytest.mark.parametrize("args, kwargs", [(("a",), {}), (("a", 2), {}), ((), {"name": "a", "size": 3}),
                                          (("a",), {"tags": {"k": "v"}})])
def test_construction_equality_and_repr_match_a_frozen_dataclass(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    dc, v = _pair()
    made_dc, made_v = dc(*args, **kwargs), v(*args, **kwargs)
    assert repr(made_v).replace("Vc", "Dc") == repr(made_dc)
    assert made_v == v(*args, **kwargs)
    assert made_v != v("other")
    assert made_v != made_dc  # another class is never equal, as with dataclasses
    assert made_v.tags is not v("b").tags  # a fresh default per instance


@pytest.mark.parametrize("args, kwargs", [((), {}), (("a", 2, {}, 4), {}), (("a",), {"name": "b"}),
                                          (("a",), {"colour": "red"})])
def test_a_wrong_call_is_a_type_error_as_with_a_dataclass(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    dc, v = _pair()
    with pytest.raises(TypeError):
        dc(*args, **kwargs)
    with pytest.raises(TypeError):
        v(*args, **kwargs)


def test_fields_are_frozen_and_hashed_by_value() -> None:
    _, v = _pair()
    made = v("a", 2)
    with pytest.raises(AttributeError):
        made.size = 3
    with pytest.raises(AttributeError):
        del made.name
    assert hash(v("a", 2, ())) == hash(v("a", 2, ()))
    assert {v("a", 2, ()), v("a", 2, ())} == {v("a", 2, ())}
    assert v.size == 1 and "tags" not in v.__dict__  # a plain default stays on the class, a factory does not


def test_replace_and_fields() -> None:
    _, v = _pair()
    made = v("a", 2, {"k": "v"})
    changed = vc.replace(made, size=5)
    assert (changed.name, changed.size, changed.tags) == ("a", 5, {"k": "v"}) and made.size == 2
    with pytest.raises(TypeError):
        vc.replace(made, colour="red")
    assert [(f.name, f.type, f.metadata.get("help")) for f in vc.fields(v)] == [
        ("name", "str", None), ("size", "int", None), ("tags", "dict[str, str]", "tags")]
    assert vc.fields(made) == vc.fields(v)
    with pytest.raises(TypeError):
        vc.fields(object())


def test_post_init_own_methods_and_subclasses() -> None:
    @vc.value_class
    class Base:
        a: int

        def __post_init__(self) -> None:
            if self.a < 0:
                raise ValueError("negative")
            object.__setattr__(self, "a", self.a * 2)

        def __repr__(self) -> str:
            return "mine"

    @vc.value_class
    class Child(Base):
        b: str = "x"

    assert Base(2).a == 4 and repr(Base(1)) == "mine"
    with pytest.raises(ValueError):
        Base(-1)
    assert [f.name for f in vc.fields(Child)] == ["a", "b"] and Child(1, "y").b == "y" and Child(1).a == 2


def test_copies_and_pickles_keep_the_value() -> None:
    made = _Pickled("a", (1, 2))
    assert copy.copy(made) == made == copy.deepcopy(made)
    assert pickle.loads(pickle.dumps(made)) == made


@vc.value_class
class _Pickled:
    name: str
    items: tuple[int, ...] = ()
