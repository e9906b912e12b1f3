"""Who an event's actor really is: pinned keys and trust tiers.

An event names its ``actor`` (``tex``, ``gregor-claude``) and carries its ``origin``, the public key of
the installation that signed it. A name is only a claim; the origin is proven by the signature. The
trust book pins, per actor, the keys allowed to act under that name: this installation's own key for
its user, and the keys listed in ``contacts.yaml``. An agent (``gregor-claude``) runs on its owner's
installations, so the owner's keys also back the agent's name.

* :meth:`TrustBook.backs` — whether an event's origin may act as its actor. Reducers use it to decide
  which transitions count, so two installations with the same pinned keys fold the same states.
* :meth:`TrustBook.tier_of` — the trust tier the governor applies: ``owner`` for the agent's owner,
  the tier from ``messaging.trust_overrides`` or ``contacts.yaml`` for a backed actor, and ``unknown``
  for every actor whose name is not backed by a pinned key, whatever name it claims.
* :meth:`TrustBook.sender` — what views and listings show of a sender: whether its name is backed,
  and which pinned name it looks like (:mod:`datacore_msg.eventlog.lookalike`). The pinned names are
  those with a key (the fingerprint covers them) and their agents' names.
"""

from __future__ import annotations

from collections.abc import Mapping

from datacore_msg.digests import sha256
from datacore_msg.eventlog.lookalike import Sender, skeletons
from datacore_msg.eventlog.names import AGENT_SUFFIX, agent_of, is_agent, owner_of
from datacore_msg.records import Record, set_field

UNKNOWN = "unknown"
OWNER = "owner"


def _freeze(keys: Mapping[str, frozenset[str] | set[str] | tuple[str, ...]]) -> dict[str, frozenset[str]]:
    return {actor: frozenset(values) for actor, values in keys.items()}


class TrustBook(Record):
    """Who the reader trusts: its owner, the keys pinned per name and the tier of each name."""

    __slots__ = ("_lookalikes", "_looks", "keys", "owner", "tiers")
    _UNCOMPARED = ("_lookalikes", "_looks")

    owner: str
    keys: Mapping[str, frozenset[str]]
    tiers: Mapping[str, str]
    #: Per skeleton (plain and glyph, :func:`~datacore_msg.eventlog.lookalike.skeletons`), the
    #: pinned names that have it, sorted.
    _lookalikes: Mapping[tuple[int, str], tuple[str, ...]]
    #: :meth:`looks_like` of each name asked about (a fold asks once per message, of few names).
    _looks: dict[str, str | None]

    def __init__(
        self,
        owner: str,
        keys: Mapping[str, frozenset[str] | set[str] | tuple[str, ...]],
        tiers: Mapping[str, str] | None = None,
    ) -> None:
        set_field(self, "owner", owner)
        set_field(self, "keys", _freeze(keys))
        set_field(self, "tiers", {} if tiers is None else tiers)
        pinned = {actor for actor, keys in self.keys.items() if keys}
        pinned |= {agent_of(actor) for actor in pinned if not is_agent(actor)}
        index: dict[tuple[int, str], list[str]] = {}
        for name in sorted(pinned):
            for kind, skeleton in enumerate(skeletons(name)):
                index.setdefault((kind, skeleton), []).append(name)
        set_field(self, "_lookalikes", {key: tuple(names) for key, names in index.items()})
        set_field(self, "_looks", {})

    def looks_like(self, name: str) -> str | None:
        """The first (sorted) pinned name other than ``name`` that ``name`` looks like, or None."""
        try:
            return self._looks[name]
        except KeyError:
            pass
        found = sorted(
            {
                pinned
                for kind, skeleton in enumerate(skeletons(name))
                for pinned in self._lookalikes.get((kind, skeleton), ())
                if pinned != name
            }
        )
        self._looks[name] = found[0] if found else None
        return self._looks[name]

    def sender(self, actor: str, origin: str, imported: bool = False) -> Sender:
        """What is shown of ``actor`` as the sender of an event written from ``origin``; for imported
        history (``origin`` is the importer's key) the name is only what the old file said: never
        verified, even when it names the importer or the importer's agent."""
        backed = self.backs(actor, origin) and not imported
        return Sender(actor, backed, self.looks_like(actor), imported)

    def keys_of(self, actor: str) -> frozenset[str]:
        own = self.keys.get(actor, frozenset())
        if is_agent(actor):
            return own | self.keys.get(owner_of(actor), frozenset())
        return own

    def backs(self, actor: str, origin: str) -> bool:
        own = self.keys.get(actor)
        if own is not None and origin in own:
            return True
        return is_agent(actor) and origin in self.keys.get(owner_of(actor), frozenset())

    def is_owner_side(self, actor: str, origin: str, agent: str) -> bool:
        """Whether the event comes from ``agent``'s owner or the agent itself, on a pinned key."""
        return actor in (owner_of(agent), agent) and origin in self.keys_of(agent)

    def tier_of(self, actor: str, origin: str) -> str:
        return self._named_tier(actor) if self.backs(actor, origin) else UNKNOWN

    def account_tier(self, account: str) -> str:
        """The tier of a budget account (:meth:`account_of`): ``unknown`` for a bucket of its own
        or a name with no key pinned."""
        if "~" in account or not self.keys_of(account):
            return UNKNOWN
        return self._named_tier(account)

    def _named_tier(self, actor: str) -> str:
        if actor in (self.owner, self.owner + AGENT_SUFFIX):
            return OWNER
        return self.tiers.get(actor, UNKNOWN)

    def account_of(self, actor: str, origin: str) -> str:
        """Whose budget, rate and cooldown a request counts against: the actor's name when a pinned
        key backs it (or no key is pinned for that name at all), else a bucket of its own for that
        origin (``tex~1a2b3c4d5e6f``; ``~`` is never part of a name), so a request written under
        someone else's name neither uses up nor benefits from their figures. History imported from
        datacore-messaging has no origin: under a pinned name it is ``gregor~imported``."""
        if self.backs(actor, origin) or not self.keys_of(actor):
            return actor
        return f"{actor}~{origin[:12] or 'imported'}"

    def fingerprint(self) -> str:
        """Changes whenever the pinned keys change (tiers do not affect what reducers fold)."""
        digest = sha256()
        for actor in sorted(self.keys):
            for key in sorted(self.keys[actor]):
                digest.update(f"{actor}\0{key}\n".encode())
        return digest.hexdigest()[:32]
