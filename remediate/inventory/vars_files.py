"""group_vars/ and host_vars/ beside the inventory file, found the way Ansible finds them.

For a name N, one of N, N.yml, N.yaml, N.json is read; if it is a directory,
its files (same extensions or none, hidden files and "~" backups skipped) are
merged in sorted order, subdirectories walked in place. Where Ansible would
silently read only the first of several candidates, we refuse.
"""

from __future__ import annotations

from pathlib import Path

from remediate.errors import InventoryError
from remediate.inventory import safe_yaml
from remediate.inventory.names import check_vars

EXTENSIONS = ("", ".yml", ".yaml", ".json")


def load_vars(base: Path, kind: str, name: str) -> dict:
    """Merged vars of host or group `name` from base/kind/ (kind: group_vars or host_vars)."""
    found = [path for path in (base / kind / (name + ext) for ext in EXTENSIONS) if path.exists()]
    if not found:
        return {}
    if len(found) > 1:
        listed = ", ".join(str(path) for path in found)
        raise InventoryError(f"vars for {name!r} are split over {listed}; keep only one")
    merged: dict = {}
    for path in _vars_files(found[0]):
        merged.update(_read(path))
    return merged


def _vars_files(path: Path) -> list[Path]:
    if not path.is_dir():
        return [path]
    files: list[Path] = []
    for entry in sorted(path.iterdir(), key=lambda p: p.name):
        if entry.name.startswith(".") or entry.name.endswith("~"):
            continue
        if entry.is_dir() and not entry.suffix:
            files.extend(_vars_files(entry))
        elif entry.is_file() and entry.suffix in EXTENSIONS:
            files.append(entry)
    return files


def _read(path: Path) -> dict:
    document = safe_yaml.load(path)
    if document.data is None:
        return {}
    if not isinstance(document.data, dict):
        kind = type(document.data).__name__
        raise InventoryError(f"{path}:1: a vars file must be a mapping of variable names, got {kind}")
    return check_vars(document.data, lambda key: document.where(document.data, key))
