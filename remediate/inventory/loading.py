"""Read one inventory file (YAML or INI) and its group_vars/ and host_vars/."""

from __future__ import annotations

import re
from pathlib import Path

from remediate.errors import InventoryError
from remediate.inventory import ini_format, yaml_format
from remediate.inventory.builder import InventoryBuilder
from remediate.inventory.model import Inventory
from remediate.inventory.safe_yaml import read_text

YAML_SUFFIXES = (".yml", ".yaml", ".json")
INI_SUFFIXES = (".ini",)
_YAML_START = re.compile(r"---|\S+:(\s.*)?")


def load_inventory(path: str | Path) -> Inventory:
    """Load an inventory file.

    .yml/.yaml/.json are YAML, .ini is INI; any other name is
    YAML when its first meaningful line is "---" or a "key:" mapping line,
    INI otherwise.
    """
    path = Path(path)
    if not path.exists():
        raise InventoryError(f"inventory {path} does not exist")
    if not path.is_file():
        raise InventoryError(f"inventory {path} is not a file; give the path of one inventory file")
    builder = InventoryBuilder(path)
    parser = yaml_format if _is_yaml(path) else ini_format
    parser.parse(path, builder)
    return builder.build()


def _is_yaml(path: Path) -> bool:
    if path.suffix in YAML_SUFFIXES:
        return True
    if path.suffix in INI_SUFFIXES:
        return False
    for line in read_text(path).splitlines():
        line = line.strip()
        if line and line[0] not in "#;":
            return _YAML_START.fullmatch(line) is not None
    return False
