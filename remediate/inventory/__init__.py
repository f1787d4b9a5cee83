"""Ansible-compatible static inventories: hosts, groups, vars precedence, host patterns.

Pure data: nothing here connects to a host, and var values are never
templated or evaluated. Host and group names are restricted to a safe
charset because they become parts of file paths (backups, reports).
"""

from remediate.inventory.loading import load_inventory
from remediate.inventory.model import Group, Host, Inventory
from remediate.inventory.target import resolve_target

__all__ = ["Group", "Host", "Inventory", "load_inventory", "resolve_target"]
