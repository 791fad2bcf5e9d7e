"""The configured Hyper-V hosts: the only machines hvbot ever contacts."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Host:
    """One inventory host. `name` is the short name (HV-SRV01), `fqdn` the DNS name."""

    name: str
    fqdn: str
    critical: bool = False

    def __str__(self) -> str:
        return self.name


class Inventory:
    """Hosts by short name or FQDN, case-insensitively; refuses everything else."""

    def __init__(self, hosts: Iterable[Host]) -> None:
        self._hosts: tuple[Host, ...] = tuple(hosts)
        self._by_key: dict[str, Host] = {}
        for host in self._hosts:
            self._by_key[host.name.casefold()] = host
            self._by_key[host.fqdn.casefold()] = host

    def __iter__(self) -> Iterator[Host]:
        return iter(self._hosts)

    def __len__(self) -> int:
        return len(self._hosts)

    def find(self, text: str) -> Host | None:
        """The host whose short name or FQDN is `text` (case-insensitive), or None."""
        return self._by_key.get(text.strip().rstrip(".").casefold())

    def closest(self, text: str) -> str | None:
        """The known short name that looks most like `text`, for "did you mean" hints."""
        names = [h.name for h in self._hosts]
        key = text.strip().casefold().split(".", 1)[0]
        folded = {n.casefold(): n for n in names}
        matches = difflib.get_close_matches(key, list(folded), n=1, cutoff=0.5)
        return folded[matches[0]] if matches else None
