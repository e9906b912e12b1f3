"""Building the trust book: this installation's key, the keys pinned in ``contacts.yaml``, the tiers."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from datacore_msg.config.contacts import load_contacts
from datacore_msg.config.policy import load_overrides
from datacore_msg.config.settings import Settings
from datacore_msg.eventlog.trust import TrustBook


def build_trust_book(
    user: str, own_key: str, settings: Settings, settings_file: Path, contacts_file: Path
) -> TrustBook:
    keys: dict[str, set[str]] = defaultdict(set)
    keys[user].add(own_key)
    tiers: dict[str, str] = {}
    for contact in load_contacts(contacts_file):
        keys[contact.id].update(contact.public_keys)
        if contact.tier is not None:
            tiers[contact.id] = contact.tier
    tiers.update(load_overrides(settings, settings_file))
    return TrustBook(owner=user, keys=dict(keys), tiers=tiers)
