"""Command-line options generated from config dataclasses: each default and its help text are
written once, on the dataclass field, and the CLI reads them from there.

    @dataclasses.dataclass(frozen=True)
    class TrainConfig:
        steps: int = option(help="total env steps", type=positive_int)      # required
        seed: int = option(0, help="random seed")

    add_options(parser, TrainConfig)            # --steps (required), --seed (default 0)
    config = config_from_args(TrainConfig, args)
"""
from __future__ import annotations

import argparse
import dataclasses
import math
from typing import Any, Callable


def option(default: Any = dataclasses.MISSING, *, help: str, flag: str | None = None,
           short: str | None = None, type: Callable | None = None,
           choices: list | None = None, cli: bool = True):
    """A dataclass field with its command-line form. flag: the long option (default
    --field-name); short: e.g. "-T"; type: the parser's converter (default: the default's
    type; bool: a --flag / --no-flag pair, for a default that is on or decided later);
    cli=False: a knob of the Python API only."""
    return dataclasses.field(default=default, metadata={
        "help": help, "flag": flag, "short": short, "type": type, "choices": choices,
        "cli": cli})


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def int_in(low: int, high: int) -> Callable[[str], int]:
    """A parser type: an integer in [low, high] (the limits of compiler.limits)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected an integer in [{low}, {high}], got "
                                             f"{value}")
        return value
    parse.__name__ = f"int_in_{low}_{high}"
    return parse


def finite_float(text: str) -> float:
    """A parser type: any finite number (nan and inf refused)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text[:40]!r}")
    return value


def float_in(low: float, high: float) -> Callable[[str], float]:
    """A parser type: a finite number in (low, high]."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not low < value <= high:
            raise argparse.ArgumentTypeError(f"expected a number in ({low}, {high}], got "
                                             f"{text}")
        return value
    parse.__name__ = f"float_in_{low}_{high}"
    return parse


def flag_of(field: dataclasses.Field) -> str:
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def add_options(parser: argparse.ArgumentParser, config_type, skip: tuple[str, ...] = ()) -> None:
    """One parser option per field of `config_type` that has option() metadata."""
    for field in dataclasses.fields(config_type):
        meta = field.metadata
        if not meta.get("cli") or field.name in skip:
            continue
        flags = [f for f in (meta.get("short"), flag_of(field)) if f]
        kwargs: dict[str, Any] = {"dest": field.name, "help": meta["help"]}
        if field.default is dataclasses.MISSING:
            kwargs["required"] = True
        elif meta.get("type") is bool:            # --flag / --no-flag, default as given
            kwargs.update(action=argparse.BooleanOptionalAction, default=field.default)
        elif isinstance(field.default, bool):
            kwargs["action"] = "store_true"
        else:
            kwargs["default"] = field.default
            if field.default not in (None, ""):
                kwargs["help"] += f" (default {field.default})"
        if "action" not in kwargs:
            converter = meta.get("type") or (type(field.default) if field.default not in
                                             (dataclasses.MISSING, None) else str)
            kwargs["type"] = converter
            if meta.get("choices"):
                kwargs["choices"] = meta["choices"]
            else:
                kwargs["metavar"] = flag_of(field).lstrip("-").upper().replace("-", "_")
        parser.add_argument(*flags, **kwargs)


def config_from_args(config_type, args: argparse.Namespace, **overrides):
    """The config from parsed arguments; fields without a CLI option keep their defaults."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(config_type)
              if f.metadata.get("cli") and hasattr(args, f.name)}
    return config_type(**{**values, **overrides})
