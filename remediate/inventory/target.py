"""Turn the --hosts / --inventory options into an inventory and the hosts to act on."""

from __future__ import annotations

import re
from pathlib import Path

from remediate.errors import InventoryError
from remediate.inventory.loading import load_inventory
from remediate.inventory.model import Host, Inventory

DEFAULT_INVENTORY = "lab.yml"
INVENTORY_SUFFIXES = (".yml", ".yaml", ".ini", "")
_BARE_WORD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def resolve_target(hosts: str, inventory: str | Path | None, inventories_dir: Path) -> tuple[Inventory, list[Host]]:
    """The inventory to use and the hosts selected in it.

    1. `inventory` given: load it and select the `hosts` pattern in it.
    2. `hosts` is a bare word NAME (no pattern syntax) and
       inventories_dir/NAME.yml, NAME.yaml, NAME.ini or NAME exists (exactly
       one of them): load it, so `--hosts prod` means inventories/prod.yml.
       If that inventory has a group NAME, select that group (lab.yml's
       `lab` group is the fleet, without the bastion and access aliases);
       otherwise select all of it. A file named like a group of lab.yml wins.
    3. Otherwise load inventories_dir/lab.yml and select `hosts` in it; if
       there is no lab.yml, the error lists the inventories that do exist.
    """
    if inventory is not None:
        loaded = load_inventory(inventory)
        return loaded, loaded.select(hosts)
    named = _named_inventory(hosts, inventories_dir)
    if named is not None:
        loaded = load_inventory(named)
        return loaded, loaded.select(hosts.strip() if hosts.strip() in loaded.groups else "all")
    default = inventories_dir / DEFAULT_INVENTORY
    if not default.is_file():
        raise InventoryError(
            f"no inventory for --hosts {hosts!r}: {default} does not exist and no inventory is "
            f"named {hosts!r}; {_available(inventories_dir)}; or pass --inventory PATH"
        )
    loaded = load_inventory(default)
    return loaded, loaded.select(hosts)


def _named_inventory(hosts: str, inventories_dir: Path) -> Path | None:
    name = hosts.strip()
    if not _BARE_WORD.fullmatch(name):
        return None
    found = [inventories_dir / (name + ext) for ext in INVENTORY_SUFFIXES]
    found = [path for path in found if path.is_file()]
    if len(found) > 1:
        raise InventoryError(
            f"--hosts {name!r} is ambiguous: "
            + ", ".join(map(str, found))
            + " all exist; keep one, or pass --inventory PATH"
        )
    return found[0] if found else None


def _available(inventories_dir: Path) -> str:
    if not inventories_dir.is_dir():
        return f"the inventories directory {inventories_dir} does not exist"
    names = sorted(
        path.name
        for path in inventories_dir.iterdir()
        if path.is_file() and not path.name.startswith(".") and path.suffix in INVENTORY_SUFFIXES
    )
    if not names:
        return f"{inventories_dir} holds no inventories"
    return f"inventories in {inventories_dir}: {', '.join(names)}"
