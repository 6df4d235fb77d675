"""Reading a space file's YAML defensively: a file is user input, and a hostile one must cost
no more than a clear error.

* UTF-8 text only (a binary, UTF-16 or Latin-1 file is refused by name, not a traceback);
* a regular file (not a FIFO or a device) of at most ``MAX_BYTES``, nested at most ``MAX_DEPTH`` deep;
* a key given twice in one mapping is refused with both lines (YAML would keep the last);
* aliases may share a value, but not expand the document beyond ``MAX_VALUES`` values (a
  1 KB "billion laughs" file expands to billions), nor refer to themselves.
"""

from __future__ import annotations

from typing import Any

import yaml

from ..errors import UserError
from ..files import read_limited

MAX_BYTES = 1_000_000
MAX_VALUES = 100_000
MAX_DEPTH = 50


class _Loader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key; SafeLoader's own message follows
                break
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is given twice (lines {first + 1} and "
                                f"{key_node.start_mark.line + 1}); keep one", key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def _expanded_size(value: Any, where: str) -> int:
    """Values the document holds with every alias expanded (shared values counted each time),
    computed without expanding them."""
    sizes: dict[int, int] = {}
    open_ids: set[int] = set()

    def size(node: Any, depth: int) -> int:
        if not isinstance(node, (dict, list)):
            return 1
        if depth > MAX_DEPTH:
            raise UserError(f"{where}: nested more than {MAX_DEPTH} levels deep")
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_ids:
            raise UserError(f"{where}: an alias refers to a value that contains it (a recursive alias)")
        open_ids.add(key)
        children = list(node.keys()) + list(node.values()) if isinstance(node, dict) else node
        total = 1 + sum(size(child, depth + 1) for child in children)
        open_ids.discard(key)
        sizes[key] = total
        return total

    return size(value, 0)


def load_yaml(path: str) -> Any:
    """The parsed YAML of ``path``; any problem is a ``UserError`` naming the file."""
    try:
        raw = read_limited(path, MAX_BYTES)  # a regular file only: a FIFO or /dev/zero is refused
    except FileNotFoundError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start} is {raw[exc.start:exc.start + 1]!r}); "
                        f"save the space file as UTF-8") from None
    if "\x00" in text:
        raise UserError(f"{path}: not a text file (it holds NUL bytes); save the space file as UTF-8")
    try:
        value = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        raise UserError(f"{path}: not valid YAML{at} ({getattr(exc, 'problem', exc)})") from None
    except RecursionError:
        raise UserError(f"{path}: nested too deeply to read") from None
    except ValueError as exc:  # PyYAML's int() of a number of more than 4,300 digits
        raise UserError(f"{path}: not a space file Python can read ({str(exc).split(';')[0]})") from None
    values = _expanded_size(value, path)
    if values > MAX_VALUES:
        raise UserError(f"{path}: its aliases expand to {values:,} values; at most {MAX_VALUES:,} are allowed")
    return value
