"""This machine's processes, known by (pid, start time): a PID alone can be reused by an unrelated process
after the one we meant died."""

from __future__ import annotations

from pathlib import Path


def start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat, or None when the PID does not exist (or is a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def machine_ids(root: Path = Path("/")) -> tuple[str, str]:
    """(machine id, boot id) of this machine, "unknown" where not readable.

    A hostname is not unique: two CI runners or containers may share one. The
    machine id tells machines apart across reboots, the boot id tells reboots apart.
    """

    def read(rel: str) -> str:
        try:
            text = (root / rel).read_text().strip()
        except OSError:
            return "unknown"
        return text if text and all(c in "0123456789abcdef-" for c in text) else "unknown"

    return read("etc/machine-id"), read("proc/sys/kernel/random/boot_id")
