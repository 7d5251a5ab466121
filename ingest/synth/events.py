"""A batch of generated events as parallel numpy arrays (entities as keys, not yet strings)."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

#: Event types in code order (``EventBatch.event_type`` holds indices into this tuple).
EVENT_TYPES = ("signup", "login", "order", "payment", "transfer", "review")
SIGNUP, LOGIN, ORDER, PAYMENT, TRANSFER, REVIEW = range(len(EVENT_TYPES))
#: Payment outcome codes (``EventBatch.status``); -1 = not a money event.
STATUSES = ("ok", "declined")
NO_STATUS, OK, DECLINED = -1, 0, 1


@dataclass
class EventBatch:
    """Events as arrays of equal length.

    ``device``, ``ip`` and ``card`` hold entity keys (0 = none), ``counterparty`` a global account
    index (-1 = none), ``amount`` NaN when absent.
    """

    account: np.ndarray
    ts: np.ndarray
    event_type: np.ndarray
    device: np.ndarray
    ip: np.ndarray
    card: np.ndarray
    counterparty: np.ndarray
    amount: np.ndarray
    status: np.ndarray

    def __len__(self) -> int:
        return len(self.account)

    @classmethod
    def empty_like(cls, account: np.ndarray, ts: np.ndarray, event_type: np.ndarray) -> EventBatch:
        """A batch with the given actors, times and types and no entities yet."""
        n = len(account)
        return cls(
            account=account.astype(np.int64),
            ts=ts.astype(np.int64),
            event_type=event_type.astype(np.int8),
            device=np.zeros(n, dtype=np.uint64),
            ip=np.zeros(n, dtype=np.uint64),
            card=np.zeros(n, dtype=np.uint64),
            counterparty=np.full(n, -1, dtype=np.int64),
            amount=np.full(n, np.nan),
            status=np.full(n, NO_STATUS, dtype=np.int8),
        )

    @classmethod
    def concat(cls, batches: list[EventBatch]) -> EventBatch:
        """One batch holding all events of ``batches`` in order."""
        return cls(**{
            f.name: np.concatenate([getattr(b, f.name) for b in batches]) for f in fields(cls)
        })

    def take(self, index: np.ndarray) -> EventBatch:
        """The events at positions ``index``."""
        return EventBatch(**{f.name: getattr(self, f.name)[index] for f in fields(self)})
