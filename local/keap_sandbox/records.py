"""All the tenant's records, the writes made to them, and the events those writes raise."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from . import writes
from .config import SandboxConfig
from .errors import ApiError
from .generator import Generator
from .kinds import KINDS
from .store import Collection
from .timefmt import iso, now_ms

Record = dict[str, Any]
# (event_key, object_type, object id, epoch ms): what REST hooks deliver.
Listener = Callable[[str, str, int, int], None]


class Records:
    """The data behind the v2 API: one `Collection` per kind plus tag applications."""

    def __init__(self, config: SandboxConfig) -> None:
        self.gen = Generator(config)
        self.kinds: dict[str, Collection] = {
            name: Collection(spec, self.gen) for name, spec in KINDS.items()
        }
        self.listeners: list[Listener] = []
        self._applied_at: dict[
            tuple[int, int], int
        ] = {}  # (contact, tag) -> ms, for API applications

    def __getitem__(self, kind: str) -> Collection:
        return self.kinds[kind]

    def now(self) -> int:
        """Write time: the wall clock, but never before the newest generated record."""
        return max(now_ms(), self.gen.anchor_ms)

    def lookup(self, kind: str, record_id: int) -> Record | None:
        return self.kinds[kind].get(record_id)

    def emit(self, event_key: str, object_type: str, record_id: int, at_ms: int) -> None:
        for listener in self.listeners:
            listener(event_key, object_type, record_id, at_ms)

    # -- writes ------------------------------------------------------------------------

    def create(self, kind: str, changes: Record, at_ms: int | None = None) -> Record:
        """Create a record from checked request-body fields (see `bodies.checked_changes`)."""
        coll, spec = self.kinds[kind], KINDS[kind]
        at = self.now() if at_ms is None else at_ms
        record_id = coll.allocate_id()
        skeleton: Record = {"id": str(record_id)}
        if spec.create_field:
            skeleton[spec.create_field] = iso(at)
        record = writes.apply(kind, skeleton, changes, self.lookup, at)
        record[spec.update_field] = iso(at)
        coll.put(record_id, record, at, at)
        self.emit(f"{spec.item}.add", spec.item, record_id, at)
        return record

    def insert(self, kind: str, record: Record, at_ms: int) -> Record:
        """Store a ready-made record (from the generator) under a new id, as a create."""
        coll, spec = self.kinds[kind], KINDS[kind]
        coll.put(int(record["id"]), record, at_ms, at_ms)
        self.emit(f"{spec.item}.add", spec.item, int(record["id"]), at_ms)
        return record

    def update(self, kind: str, record_id: int, changes: Record) -> Record:
        coll, spec = self.kinds[kind], KINDS[kind]
        current = coll.get(record_id)
        if current is None:
            raise ApiError(404, f"{spec.item} {record_id} not found")
        at = self.now()
        record = writes.apply(kind, current, changes, self.lookup, at)
        record[spec.update_field] = iso(at)
        coll.put(record_id, record, coll.times(record_id)[0], at)
        self.emit(f"{spec.item}.edit", spec.item, record_id, at)
        if kind == "tasks" and current.get("completed") != record.get("completed"):
            self.emit(
                "task.complete" if record.get("completed") else "task.incomplete",
                "task",
                record_id,
                at,
            )
        if kind == "opportunities" and current.get("stage") != record.get("stage"):
            self.emit("opportunity.stage_move", "opportunity", record_id, at)
        return record

    def delete(self, kind: str, record_id: int) -> None:
        spec = KINDS[kind]
        if not self.kinds[kind].remove(record_id):
            raise ApiError(404, f"{spec.item} {record_id} not found")
        self.emit(f"{spec.item}.delete", spec.item, record_id, self.now())

    # -- tag applications --------------------------------------------------------------

    def apply_tag(self, tag_id: int, contact_ids: list[int]) -> dict[str, str]:
        """Tag contacts. Like Keap (as far as its docs tell), this does not change the
        contact's update_time: only `contactGroup.applied` hooks announce it."""
        self._require_tag(tag_id)
        results: dict[str, str] = {}
        at = self.now()
        contacts = self.kinds["contacts"]
        for contact_id in contact_ids:
            contact = contacts.get(contact_id)
            if contact is None:
                results[str(contact_id)] = "NOT_FOUND"
                continue
            tag_ids = list(contact.get("tag_ids") or [])
            if str(tag_id) in tag_ids:
                results[str(contact_id)] = "DUPLICATE"
                continue
            tag_ids.append(str(tag_id))
            self._set_tags(contact_id, contact, tag_ids)
            self._applied_at[(contact_id, tag_id)] = at
            results[str(contact_id)] = "SUCCESS"
            self.emit("contactGroup.applied", "contactGroup", contact_id, at)
        return results

    def remove_tag(self, tag_id: int, contact_ids: list[int]) -> None:
        self._require_tag(tag_id)
        at = self.now()
        contacts = self.kinds["contacts"]
        for contact_id in contact_ids:
            contact = contacts.get(contact_id)
            if contact is None or str(tag_id) not in (contact.get("tag_ids") or []):
                continue
            self._set_tags(contact_id, contact, [t for t in contact["tag_ids"] if t != str(tag_id)])
            self._applied_at.pop((contact_id, tag_id), None)
            self.emit("contactGroup.removed", "contactGroup", contact_id, at)

    def tag_applied_ms(self, contact_id: int, tag_id: int) -> int:
        found = self._applied_at.get((contact_id, tag_id))
        if found is not None:
            return found
        create_ms, update_ms = self.kinds["contacts"].times(contact_id)
        return create_ms + (update_ms - create_ms) * ((contact_id * 7919 + tag_id) % 997) // 997

    def contacts_with_tag(self, tag_id: int) -> Iterator[tuple[int, Record]]:
        """Every (id, contact) carrying the tag. Scans all contacts."""
        wanted = str(tag_id)
        contacts = self.kinds["contacts"]
        for contact_id in contacts.live_ids():
            contact = contacts.get(contact_id, custom_fields=False)
            if contact is not None and wanted in (contact.get("tag_ids") or []):
                yield contact_id, contact

    def live_tag_ids(self, tag_ids: list[str]) -> list[str]:
        """Drop ids of tags deleted since the contact was generated."""
        tags = self.kinds["tags"]
        if not tags.deleted:
            return tag_ids
        return [t for t in tag_ids if tags.exists(int(t))]

    # -- kept across restarts (persistence.py) -----------------------------------------

    def version(self) -> tuple[int, ...]:
        """Changes whenever a snapshot would (tag applications change a contact too)."""
        return tuple(coll.version for coll in self.kinds.values())

    def snapshot(self) -> dict[str, Any]:
        return {
            "kinds": {name: coll.snapshot() for name, coll in self.kinds.items()},
            "applied": [[c, t, ms] for (c, t), ms in self._applied_at.items()],
        }

    def restore(self, data: dict[str, Any]) -> None:
        for name, kept in data["kinds"].items():
            self.kinds[name].restore(kept)
        self._applied_at = {(c, t): ms for c, t, ms in data["applied"]}

    def _require_tag(self, tag_id: int) -> None:
        if not self.kinds["tags"].exists(tag_id):
            raise ApiError(404, f"Tag {tag_id} not found")

    def _set_tags(self, contact_id: int, contact: Record, tag_ids: list[str]) -> None:
        contacts = self.kinds["contacts"]
        full = dict(contacts.get(contact_id) or contact)
        full["tag_ids"] = tag_ids
        create_ms, update_ms = contacts.times(contact_id)
        contacts.put(contact_id, full, create_ms, update_ms)
