"""``contacts.yaml``: the people of a space and the signing keys pinned for them, read strictly.

The file lives in the space folder and is shared (synced) with the other members, so people edit it
by hand as well as through ``datacore-msg contacts add/remove``::

    # comments anywhere survive edits
    actors:
      - id: tex              # actor name (required)
        name: Tex Mex        # display name
        handles: ["@tex"]
        trust_tier: team     # owner, team, trusted or unknown
        added: 2026-11-24
        public_key: <64 hex characters>   # or a list of keys, one per device
        anything_else: kept  # unknown keys are allowed and kept

Reading (:func:`load_contacts`, on every command) uses PyYAML through
:mod:`datacore_msg.config.yamlsafe` (bounded size, aliases and quotes) and checks every field
strictly (:func:`parse_contacts`): an error is one line naming the file and the place
(``actors[2].public_key``), quoting at most a few dozen characters of a value. Editing the file in
place (``contacts add/remove``) is :mod:`datacore_msg.config.contacts_edit`'s job; this module never
imports a YAML editor.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from datacore_msg.config.yamlsafe import load, quote
from datacore_msg.errors import ConfigError
from datacore_msg.eventlog.names import is_actor
from datacore_msg.eventlog.signing import is_public_key
from datacore_msg.records import TYPE_CHECKING, Record, set_field

if TYPE_CHECKING:
    from typing import Any

TIERS: tuple[str, ...] = ("owner", "team", "trusted", "unknown")

#: What follows a value that is not a public key, in every message about one.
KEY_HELP = "is not a public key (64 hex characters)"


class Contact(Record):
    __slots__ = ("added", "handles", "id", "name", "public_keys", "tier")
    id: str
    name: str | None
    handles: tuple[str, ...]
    tier: str | None
    public_keys: tuple[str, ...]  # lowercase hex, in file order, no duplicates
    added: str | None

    def __init__(
        self,
        id: str,
        name: str | None,
        handles: tuple[str, ...],
        tier: str | None,
        public_keys: tuple[str, ...],
        added: str | None,
    ) -> None:
        set_field(self, "id", id)
        set_field(self, "name", name)
        set_field(self, "handles", handles)
        set_field(self, "tier", tier)
        set_field(self, "public_keys", public_keys)
        set_field(self, "added", added)


# -- reading -------------------------------------------------------------------------------------


def load_contacts(path: Path) -> list[Contact]:
    """The contacts in ``path``, in file order; [] for a missing or empty file."""
    return parse_contacts(load(path), path)


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return quote(value)


def parse_contacts(raw: Any, path: Path) -> list[Contact]:
    """The contacts in ``raw`` (the YAML data of ``path``), every field checked."""
    if raw is None:
        return []
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping with an 'actors' list, not {_kind(raw)}")
    actors = raw.get("actors")
    if actors is None:
        return []
    if not isinstance(actors, list):
        raise ConfigError(f"{path}: actors: must be a list of contacts, not {_kind(actors)}")
    contacts: list[Contact] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(actors):
        contact = _contact(item, f"{path}: actors[{index}]")
        if contact.id in seen:
            first = seen[contact.id]
            raise ConfigError(
                f"{path}: actor {quote(contact.id)} is listed twice (actors[{first}] and actors[{index}])"
            )
        seen[contact.id] = index
        contacts.append(contact)
    return contacts


def _contact(item: object, where: str) -> Contact:
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: must be a mapping (id, public_key, ...), not {_kind(item)}")
    actor = item.get("id")
    if actor is None:
        raise ConfigError(f"{where}.id: missing")
    if not is_actor(actor):
        raise ConfigError(
            f"{where}.id: {quote(actor)} is not a valid actor name (letters, digits and . _ @ + -, "
            "at most 64, starting with a letter or digit)"
        )
    name = item.get("name")
    if name is not None and not isinstance(name, str):
        raise ConfigError(f"{where}.name: must be a string, not {_kind(name)}")
    tier = item.get("trust_tier")
    if tier is not None and tier not in TIERS:
        raise ConfigError(f"{where}.trust_tier: {quote(tier)} is not one of {', '.join(TIERS)}")
    return Contact(
        id=actor,
        name=name,
        handles=_handles(item.get("handles"), f"{where}.handles"),
        tier=tier,
        public_keys=_keys(item.get("public_key"), f"{where}.public_key"),
        added=_added(item.get("added"), f"{where}.added"),
    )


def _handles(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(f"{where}: must be a list of strings, not {_kind(value)}")
    for index, handle in enumerate(value):
        if not isinstance(handle, str):
            raise ConfigError(f"{where}[{index}]: {quote(handle)} is not a string")
    return tuple(value)


def _keys(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        places = [(f"{where}[{index}]", key) for index, key in enumerate(value)]
    else:
        places = [(where, value)]
    keys: list[str] = []
    for place, key in places:
        canonical = key.lower() if isinstance(key, str) else None
        if canonical is None or not is_public_key(canonical):
            raise ConfigError(f"{place}: {quote(key)} {KEY_HELP}")
        if canonical not in keys:
            keys.append(canonical)
    return tuple(keys)


def _added(value: object, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dt.date):  # datetime included
        return value.isoformat()
    raise ConfigError(f"{where}: {quote(value)} is not a date or a string")
