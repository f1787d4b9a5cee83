"""YAML loading that refuses what would make an inventory ambiguous or dangerous.

A plain SafeLoader accepts duplicate keys (the last one silently wins) and
alias bombs ("billion laughs": a few lines that expand to 10**9 nodes once
anything walks or copies the data). Both are refused here, with file:line, and
each mapping remembers the line of every key so later errors can point at it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from remediate.errors import InventoryError

MAX_ALIASES = 10_000
MAX_EXPANDED_NODES = 1_000_000
MAX_DEPTH = 64

_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass
class Document:
    """Loaded data plus the line of each mapping key, for precise errors."""

    path: Path
    data: Any
    key_lines: dict[int, dict[Any, int]] = field(default_factory=dict)

    def where(self, mapping: dict, key: Any) -> str:
        line = self.key_lines.get(id(mapping), {}).get(key)
        return f"{self.path}:{line}" if line else str(self.path)


def read_text(path: Path) -> str:
    """File contents as text, refusing encodings and formats we cannot read."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InventoryError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise InventoryError(f"{path}: cannot read: {exc.strerror}") from None
    if text.startswith("$ANSIBLE_VAULT;"):
        raise InventoryError(f"{path}: Ansible Vault encrypted files are not supported; decrypt it")
    return text


def load(path: Path) -> Document:
    loader = _GuardedLoader(read_text(path), path)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        raise InventoryError(_describe(path, exc)) from None
    except yaml.YAMLError as exc:
        raise InventoryError(f"{path}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return Document(path, data, loader.key_lines)


def _describe(path: Path, exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
    problem = exc.problem or "invalid document"
    context = f" ({exc.context})" if exc.context and exc.problem else ""
    return f"{where}: invalid YAML: {problem}{context}"


class _GuardedLoader(yaml.SafeLoader):
    def __init__(self, text: str, path: Path):
        super().__init__(text)
        self.path = path
        self.key_lines: dict[int, dict[Any, int]] = {}
        self._aliases = 0
        self._depth = 0

    def _refuse(self, mark, message: str) -> InventoryError:
        return InventoryError(f"{self.path}:{mark.line + 1}:{mark.column + 1}: {message}; refusing to load")

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise self._refuse(self.peek_event().start_mark, f"more than {MAX_ALIASES} YAML aliases")
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise self._refuse(self.peek_event().start_mark, f"nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self):
        node = super().compose_document()
        self._measure(node, {}, set(), 0)
        return node

    def _measure(self, node, measured: dict, enclosing: set, depth: int) -> tuple[int, int]:
        """(node count, height) of a node as if every alias were copied, memoised per node."""
        key = id(node)
        if key in enclosing:
            raise self._refuse(node.start_mark, "recursive YAML alias")
        if key not in measured:
            if depth > MAX_DEPTH:
                raise self._refuse(node.start_mark, f"YAML aliases nest deeper than {MAX_DEPTH} levels")
            enclosing.add(key)
            parts = [self._measure(child, measured, enclosing, depth + 1) for child in _children(node)]
            enclosing.discard(key)
            measured[key] = (1 + sum(size for size, _ in parts), 1 + max((h for _, h in parts), default=0))
        size, height = measured[key]
        if size > MAX_EXPANDED_NODES:
            raise self._refuse(
                node.start_mark, f"YAML aliases expand to more than {MAX_EXPANDED_NODES} nodes (alias bomb?)"
            )
        if depth + height > MAX_DEPTH:
            raise self._refuse(node.start_mark, f"YAML aliases nest deeper than {MAX_DEPTH} levels")
        return size, height

    def construct_mapping(self, node, deep=False):
        """Refuse duplicate keys; keys brought in by a `<<` merge may still be overridden."""
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:
                    continue
                line = key_node.start_mark.line + 1
                if first is not None:
                    raise self._refuse(
                        key_node.start_mark,
                        f"duplicate key {key!r} (first defined on line {first}); remove one, "
                        "a silent override is not allowed",
                    )
                seen[key] = line
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_map(self, node):
        data: dict = {}
        yield data
        data.update(self.construct_mapping(node))
        lines = self.key_lines[id(data)] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node)
            if _hashable(key):
                lines[key] = key_node.start_mark.line + 1

    def construct_unsafe(self, node):
        """Ansible's !unsafe marks a string as never-templated; ours never are anyway."""
        return self.construct_scalar(node)

    def construct_vault(self, node):
        raise self._refuse(node.start_mark, "!vault encrypted values are not supported, decrypt them")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair]
    return []


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


_GuardedLoader.add_constructor("tag:yaml.org,2002:map", _GuardedLoader.construct_yaml_map)
_GuardedLoader.add_constructor("!unsafe", _GuardedLoader.construct_unsafe)
_GuardedLoader.add_constructor("!vault", _GuardedLoader.construct_vault)
