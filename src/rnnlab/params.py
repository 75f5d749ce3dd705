"""Params files read as DVC reads them (YAML 1.2) and checked into typed values: `load_section(path, key, Type)`.

No field has a default, so a missing key fails like an unknown one, naming the file and the dotted key. Ranges are
checked at load time, and a choice (cell, pooling, init, ...) against the table of the module that implements it,
named by the field (`Choice("rnnlab.models.classifier:ENCODERS")`) and imported when checked: nothing registers
anything. The main pipeline's sections are in `rnnlab.config`; a study's live with its code.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from rnnlab import UserError


class ConfigError(UserError, ValueError):
    """A params file has an unknown, missing, mistyped or out-of-range key."""



@dataclass(frozen=True)
class Range:
    """Bounds of a number; `open` ends exclude the bound itself."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def check(self, value: float, where: str) -> None:
        too_low = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        too_high = self.high is not None and (value >= self.high if self.high_open else value > self.high)
        if too_low or too_high:
            raise ConfigError(f"{where}: {value!r} is out of range, must be {self}")

    def __str__(self) -> str:
        low = "" if self.low is None else f"{'>' if self.low_open else '>='} {self.low:g}"
        high = "" if self.high is None else f"{'<' if self.high_open else '<='} {self.high:g}"
        return " and ".join(part for part in (low, high) if part)



@dataclass(frozen=True)
class Choice:
    """One of the names in `table`, "module:attribute": the mapping (or names) of the module implementing them."""

    table: str

    def names(self) -> frozenset[str]:
        module, _, attribute = self.table.partition(":")
        return frozenset(getattr(importlib.import_module(module), attribute))

    def check(self, value: str, where: str) -> None:
        if value not in (names := self.names()):
            raise ConfigError(f"{where}: {value!r} is not one of {sorted(names)}")



@dataclass(frozen=True)
class Pattern:
    """A string matching a regular expression."""

    regex: str
    meaning: str

    def check(self, value: str, where: str) -> None:
        if not re.fullmatch(self.regex, value):
            raise ConfigError(f"{where}: {value!r} is not {self.meaning}")



PositiveInt = Annotated[int, Range(low=1)]

NonNegativeInt = Annotated[int, Range(low=0)]

PositiveFloat = Annotated[float, Range(low=0, low_open=True)]

Seeds = tuple[NonNegativeInt, ...]

NonNegativeFloat = Annotated[float, Range(low=0)]

Dropout = Annotated[float, Range(low=0, high=1, high_open=True)]

Share = Annotated[float, Range(low=0, high=1, low_open=True, high_open=True)]  # a part of the data: (0, 1)

Device = Annotated[str, Pattern(r"auto|cpu|cuda(:\d+)?", "a device: auto, cpu, cuda or cuda:N")]



def read_params(path: str | Path) -> dict[str, Any]:
    """A params file as DVC reads it: YAML 1.2 (so `1e-3` is a float, as DVC compares it)."""
    path = Path(path)
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return data



def require_entry(path: str | Path, section: str, name: str, where: str) -> None:
    """Fail naming the key `where` unless `name` is an entry of the mapping `section` (`train.<name>`)."""
    entries = read_params(path).get(section)
    if not isinstance(entries, dict) or name not in entries:
        raise ConfigError(f"{path}: {where} {name!r} is not a `{section}` entry ({', '.join(entries or [])})")



def load_section(path: str | Path, key: str, tp: Any) -> Any:
    """The value at dotted `key` of a params file, checked and built as type `tp` (a config dataclass, a
    `dict[str, Config]`, an annotated number...)."""
    data: Any = read_params(path)
    for depth, part in enumerate(key.split(".")):
        if not isinstance(data, dict) or part not in data:
            missing = ".".join(key.split(".")[: depth + 1])
            raise ConfigError(f"{path}: {missing}: missing key '{part}'")
        data = data[part]
    return coerce(tp, data, f"{path}: {key}")



def from_dict(cls: type, data: Any, where: str) -> Any:
    """Build dataclass `cls` from a mapping, rejecting unknown, missing, mistyped and out-of-range keys."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields), key=str)
    if unknown:
        key = unknown[0]  # named dotted, as `dvc exp run -S` spells it
        raise ConfigError(f"{where}.{key}: unknown key '{key}' (known: {', '.join(fields)})")
    required = [name for name, f in fields.items() if f.default is f.default_factory is dataclasses.MISSING]
    missing = [name for name in required if name not in data]
    if missing:
        raise ConfigError(f"{where}.{missing[0]}: missing key '{missing[0]}'")
    values = {name: coerce(hints[name], value, f"{where}.{name}") for name, value in data.items()}
    try:
        return cls(**values)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None



def coerce(tp: Any, value: Any, where: str) -> Any:
    """`value` checked against type `tp` (dataclasses, Annotated checks, Literal, unions, tuples, dicts)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if origin is Annotated:
        value = coerce(args[0], value, where)
        for check in tp.__metadata__:
            check.check(value, where)
        return value
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return coerce(option, value, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} does not match {tp}")
    if origin is tuple:
        return _coerce_tuple(args, value, where)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return {coerce(args[0], k, where): coerce(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if tp is float and type(value) is int:
        return float(value)
    if type(value) is not tp:
        raise ConfigError(f"{where}: expected {getattr(tp, '__name__', tp)}, got {value!r}")
    return value



def _coerce_tuple(args: tuple, value: Any, where: str) -> tuple:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where}: expected a list, got {value!r}")
    item_types = [args[0]] * len(value) if args[-1] is Ellipsis else list(args)
    if len(item_types) != len(value):
        raise ConfigError(f"{where}: expected {len(item_types)} items, got {len(value)}")
    return tuple(coerce(t, v, f"{where}[{i}]") for i, (t, v) in enumerate(zip(item_types, value, strict=True)))



def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten a (nested) config dataclass or dict into dotted keys, for logging."""
    if dataclasses.is_dataclass(obj):
        obj = dataclasses.asdict(obj)
    out: dict[str, Any] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out
