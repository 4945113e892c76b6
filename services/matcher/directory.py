"""EntityIndex: the CRM directory in memory, built from ``crm.entities``. Pure; thread-safe."""

from __future__ import annotations

import threading

from ..common.messages import Entity


class EntityIndex:
    """Entities by key and persons by lower-cased address. Updates replace; tombstones delete."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entities: dict[str, Entity] = {}
        self._persons_by_address: dict[str, set[str]] = {}

    def upsert(self, entity: Entity) -> None:
        with self._lock:
            self._remove(entity.key)
            self._entities[entity.key] = entity
            if entity.type == "person":
                for address in entity.emails:
                    self._persons_by_address.setdefault(address.strip().lower(), set()).add(entity.id)

    def delete(self, key: str) -> None:
        with self._lock:
            self._remove(key)

    def persons_with_address(self, address: str) -> list[str]:
        """Ids of persons having ``address`` (case-insensitive), sorted for stable output."""
        with self._lock:
            return sorted(self._persons_by_address.get(address.strip().lower(), ()))

    def __len__(self) -> int:
        return len(self._entities)

    def _remove(self, key: str) -> None:
        old = self._entities.pop(key, None)
        if old is not None and old.type == "person":
            for address in old.emails:
                ids = self._persons_by_address.get(address.strip().lower())
                if ids is not None:
                    ids.discard(old.id)
                    if not ids:
                        del self._persons_by_address[address.strip().lower()]
