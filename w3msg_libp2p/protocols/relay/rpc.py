"""Gossipsub RPC as plain data. Built by codec.py from the wire, consumed by router.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


@dataclass(frozen=True, slots=True)
class PubMessage:
    topic: str
    data: bytes
    from_peer: bytes | None = None
    seqno: bytes | None = None
    signature: bytes | None = None
    key: bytes | None = None

    @property
    def is_anonymous(self) -> bool:
        """StrictNoSign: none of the authorship fields may be present."""
        return self.from_peer is None and self.seqno is None and self.signature is None and self.key is None


@dataclass(frozen=True, slots=True)
class SubOpt:
    subscribe: bool
    topic: str


@dataclass(frozen=True, slots=True)
class IHave:
    topic: str
    message_ids: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class IWant:
    message_ids: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Graft:
    topic: str


@dataclass(frozen=True, slots=True)
class PrunePeer:
    peer_id: bytes
    signed_peer_record: bytes | None = None


@dataclass(frozen=True, slots=True)
class Prune:
    topic: str
    peers: tuple[PrunePeer, ...] = ()
    backoff: int | None = None  # seconds


@dataclass(frozen=True, slots=True)
class IDontWant:
    message_ids: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class RPC:
    subscriptions: tuple[SubOpt, ...] = ()
    messages: tuple[PubMessage, ...] = ()
    ihave: tuple[IHave, ...] = ()
    iwant: tuple[IWant, ...] = ()
    graft: tuple[Graft, ...] = ()
    prune: tuple[Prune, ...] = ()
    idontwant: tuple[IDontWant, ...] = field(default=())

    @property
    def has_control(self) -> bool:
        return bool(self.ihave or self.iwant or self.graft or self.prune or self.idontwant)


class ValidationResult(Enum):
    ACCEPT = "accept"
    REJECT = "reject"  # invalid: the sender is penalised (P4)
    IGNORE = "ignore"  # not forwarded, no penalty


@dataclass(frozen=True, slots=True)
class Verdict:
    result: ValidationResult
    reason: str = ""
    # What the validator parsed the message into, handed on with the delivery so it is not
    # parsed twice (the Waku validator puts the decoded WakuMessage here).
    parsed: object = None


ACCEPTED = Verdict(ValidationResult.ACCEPT)
