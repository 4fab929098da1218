"""Plain data -> typed dataclasses, YAML files, ``--set a.b=c`` overrides and deep merges.

Everything that reaches a config from outside goes through :func:`build_section`, which rejects unknown
keys and wrong types with one :class:`~gankit.errors.ConfigError` line that names the key.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from gankit.errors import ConfigError

# every number in a config: integers fit in 32 bits, floats are finite and not absurd (each key's own checks in
# gankit.config.validate then narrow these)
INT_LIMIT = 2**31 - 1
FLOAT_LIMIT = 1e12


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp)).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it (ints widen to floats)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            if abs(value) > INT_LIMIT:
                raise ConfigError(f"{key}: {value} is out of range (at most {INT_LIMIT:,} either way)")
            return value
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value) or abs(value) > FLOAT_LIMIT:
                raise ConfigError(f"{key}: expected a finite number (at most {FLOAT_LIMIT:g} either way), "
                                  f"got {value!r}")
            return float(value)
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    raise ConfigError(f"{key}: unsupported type {_type_name(tp)}")  # pragma: no cover


def shown_key(key: Any) -> str:
    """A config key as an error message shows it: as written, or quoted when it holds a newline or nothing
    visible (so the message stays one line and says what was there)."""
    return key if isinstance(key, str) and key and key.isprintable() and key.strip() == key else repr(key)


def build_section(cls: type, raw: Any, prefix: str, where: str = "") -> Any:
    """``raw`` (a mapping) as the dataclass ``cls``; keys are reported as ``prefix + key``; ``where`` is added to
    the unknown-key message (e.g. "for task pix2pix")."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping of keys, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in raw.items():
        full = f"{prefix}{shown_key(key)}"
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean {prefix}{close[0]}?)" if close else f" (valid: {', '.join(names)})"
            raise ConfigError(f"unknown config key {full}{where and ' ' + where}{hint}")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = build_section(tp, value, f"{full}.", where)
        else:
            kwargs[key] = _coerce(value, tp, full)
    return cls(**kwargs)


def merge(base: dict, update: dict) -> dict:
    """Deep-merge ``update`` into a copy of ``base`` (mappings merge, everything else replaces)."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_override(text: str) -> dict:
    """Turn ``a.b=c`` into ``{"a": {"b": c}}``, the value parsed as YAML (``1e-4``, ``[1,2]``, ``true``)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected key=value, e.g. --set train.batch_size=128")
    key, _, value_text = text.partition("=")
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text!r}: empty key")
    try:
        value = yaml.safe_load(value_text) if value_text.strip() else ""
    except yaml.YAMLError as exc:
        reason = getattr(exc, "problem", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"--set {text!r}: cannot parse the value ({reason})") from None
    value = fix_yaml_numbers(value)
    out: dict = {}
    node = out
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def load_yaml(path: str | Path) -> dict:
    """Read a YAML config file into plain data, with one-line errors."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist")
    try:
        raw = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {p} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {p} must hold a mapping of keys at the top level")
    return fix_yaml_numbers(raw)


_SCI_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def fix_yaml_numbers(node: Any) -> Any:
    """YAML 1.1 leaves ``1e-4`` (no dot) as a string; read such strings as floats."""
    if isinstance(node, dict):
        return {k: fix_yaml_numbers(v) for k, v in node.items()}
    if isinstance(node, list):
        return [fix_yaml_numbers(v) for v in node]
    if isinstance(node, str) and _SCI_NUMBER.match(node.strip()):
        return float(node)
    return node
