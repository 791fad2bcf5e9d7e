"""Windows path arithmetic for the simulated hosts (the lab runs on POSIX, paths are Windows)."""

from __future__ import annotations

import re

_DRIVE = re.compile(r"^[A-Za-z]:\\")


def normalize(path: str) -> str:
    """Canonical form used as a key: backslashes, no trailing separator, lower case."""
    cleaned = path.strip().replace("/", "\\")
    while cleaned.endswith("\\") and not _DRIVE.fullmatch(cleaned):
        cleaned = cleaned[:-1]
    if re.fullmatch(r"[A-Za-z]:", cleaned):
        cleaned += "\\"
    return cleaned.lower()


def is_unc(path: str) -> bool:
    """True for `\\\\server\\share\\...`, which every host reaches the same way."""
    return path.replace("/", "\\").startswith("\\\\")


def is_absolute(path: str) -> bool:
    """A drive-rooted or UNC path."""
    return bool(_DRIVE.match(path.replace("/", "\\"))) or is_unc(path)


def drive(path: str) -> str:
    """Upper-case drive letter of a drive-rooted path, '' for anything else."""
    return path[0].upper() if _DRIVE.match(path.replace("/", "\\")) else ""


def parent(path: str) -> str:
    """The folder holding `path`, in the caller's spelling."""
    cleaned = path.replace("/", "\\").rstrip("\\")
    head, _, _ = cleaned.rpartition("\\")
    return head + "\\" if re.fullmatch(r"[A-Za-z]:", head) else head


def basename(path: str) -> str:
    """Last segment of `path`."""
    return path.replace("/", "\\").rstrip("\\").rpartition("\\")[2]


def join(folder: str, name: str) -> str:
    """`folder\\name` without doubling the separator."""
    return folder.rstrip("\\/") + "\\" + name


def ancestors(path: str) -> list[str]:
    """Every folder above `path`, nearest first, in the caller's spelling."""
    found: list[str] = []
    current = parent(path)
    while current and current not in found:
        found.append(current)
        nxt = parent(current)
        if nxt == current:
            break
        current = nxt
    return found
