"""mgrid.storage.v1.Query: how much energy a storage holds, who holds claims on it,
an account's credits, and the deposits and redemptions of an interval."""

from __future__ import annotations

from app.errors import ErrNotFound
from app.kv import KV
from app.modules.common import page, parse_address
from app.modules.registry import keeper as registry
from app.modules.storage import keeper
from app.pb.mgrid.registry.v1 import registry_pb2
from app.pb.mgrid.storage.v1 import storage_pb2


def _storage(kv: KV, text: str) -> tuple[bytes, storage_pb2.StorageState]:
    """A storage participant's address and state (empty before its first deposit)."""
    address = parse_address(text, "storage")
    state = keeper.get_state(kv, address)
    if state is not None:
        return address, state
    participant = registry.get_participant(kv, address)
    if participant is None or participant.role != registry_pb2.ROLE_STORAGE:
        raise ErrNotFound(f"{text} is not a storage participant")
    return address, keeper.state_of(kv, address, participant.storage)


class Queries:
    def Storage(
        self, kv: KV, req: storage_pb2.QueryStorageRequest
    ) -> storage_pb2.QueryStorageResponse:
        """Any storage participant's state; zeros before its first deposit."""
        _, state = _storage(kv, req.storage)
        return storage_pb2.QueryStorageResponse(state=state)

    def Storages(
        self, kv: KV, req: storage_pb2.QueryStoragesRequest
    ) -> storage_pb2.QueryStoragesResponse:
        """The storages that took a deposit, in address order, one page."""
        entries, next_key = page(kv, keeper.STATE, req.page_key, req.limit)
        found = [storage_pb2.StorageState.FromString(v) for _, v in entries]
        return storage_pb2.QueryStoragesResponse(storages=found, next_key=next_key)

    def Holders(
        self, kv: KV, req: storage_pb2.QueryHoldersRequest
    ) -> storage_pb2.QueryHoldersResponse:
        """Who holds claims on a storage (spendable and locked credits), in address order."""
        address, _ = _storage(kv, req.storage)
        entries, next_key = page(kv, keeper.BALANCE + address, req.page_key, req.limit)
        found = [storage_pb2.CreditBalance.FromString(v) for _, v in entries]
        return storage_pb2.QueryHoldersResponse(holders=found, next_key=next_key)

    def Credits(
        self, kv: KV, req: storage_pb2.QueryCreditsRequest
    ) -> storage_pb2.QueryCreditsResponse:
        holder = parse_address(req.holder, "holder")
        return storage_pb2.QueryCreditsResponse(credits=keeper.credits_of(kv, holder))

    def Deposits(
        self, kv: KV, req: storage_pb2.QueryDepositsRequest
    ) -> storage_pb2.QueryDepositsResponse:
        """A storage's deposits for one interval, or (interval 0) every unsettled one."""
        address, _ = _storage(kv, req.storage)
        return storage_pb2.QueryDepositsResponse(
            deposits=keeper.deposits_of(kv, address, req.interval)
        )

    def Redemptions(
        self, kv: KV, req: storage_pb2.QueryRedemptionsRequest
    ) -> storage_pb2.QueryRedemptionsResponse:
        """A storage's redemptions for one interval, or (interval 0) every unsettled one."""
        address, _ = _storage(kv, req.storage)
        return storage_pb2.QueryRedemptionsResponse(
            redemptions=keeper.redemptions_of(kv, address, req.interval)
        )
