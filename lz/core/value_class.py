"""Frozen value classes without ``dataclasses``, for the classes every ``lz submit`` loads.

Why: ``import dataclasses`` brings ``inspect`` (and ``ast``, ``dis``, ``tokenize``), and each
``@dataclass`` compiles its own ``__init__``, ``__repr__``, ``__eq__``, ``__hash__`` and frozen
setters from source text at import. For the ten classes on ``lz submit``'s path that was 11-16 ms
of a 60 ms process, a fifth of the gateway's CPU per job (issue 23; ``bench/cli_speed.py
--submit``). Here a class is read once into a table of fields and given shared methods that walk
it: nothing is compiled, and building an instance costs about what a dataclass's does.

What lz uses of ``@dataclass(frozen=True)`` behaves the same: construction by keyword or
position, defaults and ``field(default_factory=...)``, ``__post_init__``, equality and hash by
the fields in order (same class only), a ``Name(a=1, b=2)`` repr, assignment refused, and
``fields``/``replace`` (this module's, which these classes need: ``dataclasses.replace`` refuses
them). Type checkers read the decorator as a dataclass through ``dataclass_transform``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class FrozenError(AttributeError):
    """Assigning to (or deleting) a field of a value class."""


class Field:
    """One field: its name, annotation (text), default or default factory, and metadata."""

    __slots__ = ("default", "default_factory", "metadata", "name", "type")

    def __init__(self, default: Any = MISSING, default_factory: Callable[[], Any] | Any = MISSING,
                 metadata: Mapping[str, Any] | None = None) -> None:
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("a field takes a default or a default_factory, not both")
        self.name = ""
        self.type: Any = None
        self.default = default
        self.default_factory = default_factory
        self.metadata: Mapping[str, Any] = metadata or {}

    def __repr__(self) -> str:
        return f"Field(name={self.name!r}, type={self.type!r}, default={self.default!r})"


def field(*, default: Any = MISSING, default_factory: Callable[[], Any] | Any = MISSING,
          metadata: Mapping[str, Any] | None = None) -> Any:
    """As ``dataclasses.field``: a default, or a factory called for each instance, and metadata."""
    return Field(default, default_factory, metadata)


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def value_class(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen value class from its annotations, in order (a base value class's
    fields first, as dataclasses do)."""
    table: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        table.update(getattr(base, "__value_fields__", {}))
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():
        if str(annotation).startswith(("ClassVar", "typing.ClassVar")):
            continue
        given = cls.__dict__.get(name, MISSING)
        spec = given if isinstance(given, Field) else Field(default=given)
        spec.name, spec.type = name, annotation
        table[name] = spec
        if isinstance(given, Field):  # the class keeps a plain default, as with dataclasses
            if spec.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, spec.default)
    names = tuple(table)
    plan = tuple((name, spec.default, spec.default_factory) for name, spec in table.items())
    # the fields' values in order, as one tuple (attrgetter of one name returns the bare value)
    values = attrgetter(*names) if len(names) > 1 else (lambda self: tuple(getattr(self, n) for n in names))
    post_init = getattr(cls, "__post_init__", None)
    title = cls.__qualname__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if args:
            if len(args) > len(names):
                raise TypeError(f"{title}() takes {len(names)} arguments but {len(args)} were given")
            for name, arg in zip(names, args, strict=False):
                if name in kwargs:
                    raise TypeError(f"{title}() got multiple values for argument {name!r}")
                kwargs[name] = arg
        own = self.__dict__
        for name, default, factory in plan:
            if name in kwargs:
                own[name] = kwargs.pop(name)
            elif default is not MISSING:
                own[name] = default
            elif factory is not MISSING:
                own[name] = factory()
            else:
                raise TypeError(f"{title}() missing required argument: {name!r}")
        if kwargs:
            raise TypeError(f"{title}() got an unexpected keyword argument {next(iter(kwargs))!r}")
        if post_init is not None:
            post_init(self)

    def __repr__(self: Any) -> str:
        return f"{type(self).__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in names)})"

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return bool(values(self) == values(other))

    def __hash__(self: Any) -> int:
        return hash(values(self))

    def _refuse(self: Any, name: str, *_: Any) -> None:
        raise FrozenError(f"cannot assign to field {name!r}")

    added: dict[str, Any] = {"__value_fields__": table, "__match_args__": names, "__init__": __init__,
                             "__setattr__": _refuse, "__delattr__": _refuse}
    for name, method in (("__repr__", __repr__), ("__eq__", __eq__), ("__hash__", __hash__)):
        if name not in cls.__dict__ or (name == "__hash__" and cls.__dict__[name] is None):
            added[name] = method  # a class's own method stays, as with dataclasses
    for name, value in added.items():
        setattr(cls, name, value)
    return cls


def fields(of: Any) -> tuple[Field, ...]:
    """A value class's fields (of the class or an instance), in order."""
    found: dict[str, Field] | None = getattr(of, "__value_fields__", None)
    if found is None:
        raise TypeError(f"{of!r} is not a value class")
    return tuple(found.values())


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of ``obj`` with ``changes``, built (and checked) anew as ``dataclasses.replace``;
    a dataclass is handed to that (imported then), so one ``replace`` serves both kinds."""
    if getattr(obj, "__value_fields__", None) is None:
        import dataclasses

        return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
    for spec in fields(obj):
        if spec.name not in changes:
            changes[spec.name] = getattr(obj, spec.name)
    return type(obj)(**changes)
