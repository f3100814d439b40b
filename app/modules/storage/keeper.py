"""Storage keeper: storage-backed energy credits (issue 11).

A community storage participant (registry role storage, with a StorageSpec:
capacity_wh, max_charge_w, max_discharge_w, efficiency_ppm) takes energy
from prosumers and gives it back later. Credits are Wh the holder may take
back; they are a ledger of this module (per storage and holder, spendable
and locked), not bank coins. Energy in Wh, efficiency in parts per million.

State of a storage (StorageState, created by its first deposit):
    stored_wh    energy held for credit holders, after efficiency
    credits_wh   credits outstanding (spendable + locked, over all holders)
    locked_wh    credits locked by unsettled redemptions
    reserved_wh  capacity promised to unsettled deposits
Minting raises stored_wh and credits_wh by the same amount and redeeming
lowers both by the same amount, so the two stay equal (no self-discharge is
modelled); the invariants ask no more than credits_wh <= stored_wh.

Limits per delivery interval n, with L = n's length in seconds as the
market schedules it (market.get_interval):
    charge    = floor(max_charge_w * L / 3600)      Wh committed by deposits
    discharge = floor(max_discharge_w * L / 3600)   Wh requested by redemptions

MsgDeposit(storage, interval n, wh), signed by the depositor:
    the storage is a participant of role storage, approved; the depositor is
    an approved participant with a live (not revoked) meter, not the storage
    itself; n's gate is still open (market.check_interval_open);
    1 <= wh <= MAX_WH; reserve = floor(wh * efficiency_ppm / 10^6) >= 1 (a
    deposit that can mint nothing is refused); committed(storage, n) + wh <=
    charge; stored + reserved + reserve <= capacity_wh. The reserve is held
    (reserved_wh) until n is settled, so the capacity promised to deposits
    is never handed out twice.
MsgRedeem(storage, interval n, wh), signed by the holder:
    the storage is an approved storage participant, not the signer; the
    holder is an approved participant with a live meter (the energy is
    counted as its purchase in settlement); n's gate is open; 1 <= wh <=
    MAX_WH; wh <= its spendable credits on the storage; requested(storage,
    n) + wh <= discharge. The credits are locked until n is settled.
MsgTransferCredits(storage, to, wh): 1 <= wh <= the signer's spendable
    credits on the storage; ``to`` is any account other than the signer (it
    may hold and transfer credits; to redeem them it must be a participant
    with a meter). Zero balances are never stored.
Deposits and redemptions mark n for settlement (settlement.note_due, called
by the message handlers), so an interval with only storage activity settles.

Settlement (``settle``, called by settlement.settle_interval for interval n,
with what settlement measured of each participant: loss-referred metered
export X and import M, contracted sales S and purchases B; see
settlement.keeper). Deposits of n in submission (id) order:
    surplus(p) = max(0, (X - M) - (S - B)) of the depositor p (0 without a
                 reading), less what p's earlier deposits in n already used
    intake(s)  = max(0, M - B) of the storage s (its metered import beyond its
                 own market purchases; 0 without a reading), less what
                 earlier deposits in n already used
    delivered  = min(committed, surplus(p), intake(s))
    credited   = min(floor(delivered * efficiency_ppm / 10^6), capacity - stored)
    reserved_wh -= the deposit's reserve; stored_wh, credits_wh += credited;
    the depositor's spendable credits += credited.
Then redemptions of n in submission order:
    outflow(s) = max(0, X - S) of the storage s (its metered export beyond its
                 own market sales; 0 without a reading), less what earlier
                 redemptions in n already took
    delivered  = min(requested, outflow(s), stored)
    the holder's locked credits: ``delivered`` burned, the rest unlocked;
    stored_wh, credits_wh -= delivered; locked_wh -= requested.
Rounding: credits are floor(Wh x efficiency), so the storage never owes more
energy than it took in after its losses; the capacity cap never binds when
the reserve rule holds (credited <= reserve), it is a guard.
``settle`` returns the deliveries (depositor -> storage, storage -> holder,
Wh delivered); settlement counts them as contracts at no price, so they are
neither imbalances nor money.

Invariants (check_invariants), per storage: stored_wh <= capacity_wh;
stored_wh + reserved_wh <= capacity_wh; stored_wh == minted_wh -
redeemed_wh; credits_wh <= stored_wh; credits_wh
== the sum of its holders' balances (spendable + locked); locked_wh == the
sum of the holders' locked credits == the sum of unsettled redemptions'
requested_wh; reserved_wh == the sum of unsettled deposits' reserved_wh;
holders == the number of balances.

Keys (prefix 0x0d):
    0x0d 0x00                                 -> next deposit id, decimal
    0x0d 0x01                                 -> next redemption id, decimal
    0x0d 0x10 | storage(20)                   -> StorageState
    0x0d 0x20 | storage(20) | holder(20)      -> CreditBalance (a storage's holders)
    0x0d 0x21 | holder(20) | storage(20)      -> 0x01  a holder's credits
    0x0d 0x30 | id(8)                         -> Deposit
    0x0d 0x31 | storage(20) | interval(8) | id(8) -> 0x01  a storage's deposits
    0x0d 0x32 | interval(8) | id(8)           -> 0x01  unsettled deposits, by interval
    0x0d 0x33 | storage(20) | interval(8)     -> Wh committed, decimal (until settled)
    0x0d 0x40 | id(8)                         -> Redemption
    0x0d 0x41 | storage(20) | interval(8) | id(8) -> 0x01  a storage's redemptions
    0x0d 0x42 | interval(8) | id(8)           -> 0x01  unsettled redemptions, by interval
    0x0d 0x43 | storage(20) | interval(8)     -> Wh requested, decimal (until settled)
Integers in keys are big-endian, so key order is numeric order.

Events: storage_deposit, storage_redeem, storage_transfer_credits (the
messages); storage_deposit_settled, storage_redeem_settled (settlement).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from app import crypto
from app.context import Context
from app.errors import register
from app.kv import KV, CacheKV
from app.modules import PREFIX_STORAGE
from app.modules.common import encode, take_counter
from app.modules.market import keeper as market
from app.modules.registry import keeper as registry
from app.pb.mgrid.registry.v1 import registry_pb2
from app.pb.mgrid.storage.v1 import storage_pb2

ErrNotStorage = register("storage", 2, "not a storage participant")
ErrStorageNotApproved = register("storage", 3, "storage not approved")
ErrNotParticipant = register("storage", 4, "not a registered participant")
ErrNotApproved = register("storage", 5, "participant not approved")
ErrNoMeter = register("storage", 6, "participant has no live meter")
ErrSelfDealing = register("storage", 7, "a storage cannot deposit into or redeem from itself")
ErrInvalidAmount = register("storage", 8, "invalid amount")
ErrChargeLimit = register("storage", 9, "charge limit of the interval exceeded")
ErrCapacity = register("storage", 10, "storage capacity exceeded")
ErrDischargeLimit = register("storage", 11, "discharge limit of the interval exceeded")
ErrInsufficientCredits = register("storage", 12, "insufficient credits")
ErrInvalidRecipient = register("storage", 13, "invalid recipient")

PPM = 1_000_000
SECONDS_PER_HOUR = 3600
MAX_WH = registry.MAX_STORAGE_WH  # one message moves at most what the largest storage holds

_NEXT_DEPOSIT = PREFIX_STORAGE + b"\x00"
_NEXT_REDEMPTION = PREFIX_STORAGE + b"\x01"
STATE = PREFIX_STORAGE + b"\x10"
BALANCE = PREFIX_STORAGE + b"\x20"
BY_HOLDER = PREFIX_STORAGE + b"\x21"
DEPOSIT = PREFIX_STORAGE + b"\x30"
DEPOSITS_OF = PREFIX_STORAGE + b"\x31"
DEPOSITS_DUE = PREFIX_STORAGE + b"\x32"
_COMMITTED = PREFIX_STORAGE + b"\x33"
REDEMPTION = PREFIX_STORAGE + b"\x40"
REDEMPTIONS_OF = PREFIX_STORAGE + b"\x41"
REDEMPTIONS_DUE = PREFIX_STORAGE + b"\x42"
_REQUESTED = PREFIX_STORAGE + b"\x43"

u64 = market.u64
APPROVED = registry_pb2.STATUS_APPROVED


def _now(ctx: Context) -> int:
    return ctx.time_ns // market.NS_PER_S


def _id(key: bytes) -> int:
    return int.from_bytes(key[-8:], "big")


# ---------------------------------------------------------------------------
# Records


def get_state(kv: KV, storage: bytes) -> storage_pb2.StorageState | None:
    raw = kv.get(STATE + storage)
    return storage_pb2.StorageState.FromString(raw) if raw is not None else None


def _set_state(kv: CacheKV, state: storage_pb2.StorageState) -> None:
    kv.set(STATE + crypto.decode_address(state.storage), encode(state))


def states(kv: KV) -> Iterator[storage_pb2.StorageState]:
    """Every storage that took a deposit, in address order."""
    for _, raw in kv.iterate(STATE):
        yield storage_pb2.StorageState.FromString(raw)


def get_balance(kv: KV, storage: bytes, holder: bytes) -> storage_pb2.CreditBalance | None:
    raw = kv.get(BALANCE + storage + holder)
    return storage_pb2.CreditBalance.FromString(raw) if raw is not None else None


def holders_of(kv: KV, storage: bytes) -> list[storage_pb2.CreditBalance]:
    """A storage's credit holders in address order."""
    return [storage_pb2.CreditBalance.FromString(v) for _, v in kv.iterate(BALANCE + storage)]


def credits_of(kv: KV, holder: bytes) -> list[storage_pb2.CreditBalance]:
    """A holder's credits on every storage, in storage address order."""
    prefix = BY_HOLDER + holder
    out = []
    for key, _ in kv.iterate(prefix):
        balance = get_balance(kv, key[len(prefix) :], holder)
        assert balance is not None, "holder index entry without a balance"
        out.append(balance)
    return out


def get_deposit(kv: KV, deposit_id: int) -> storage_pb2.Deposit | None:
    raw = kv.get(DEPOSIT + u64(deposit_id))
    return storage_pb2.Deposit.FromString(raw) if raw is not None else None


def _deposit(kv: KV, deposit_id: int) -> storage_pb2.Deposit:
    deposit = get_deposit(kv, deposit_id)
    assert deposit is not None, f"deposit index points at a missing deposit {deposit_id}"
    return deposit


def _set_deposit(kv: CacheKV, deposit: storage_pb2.Deposit) -> None:
    kv.set(DEPOSIT + u64(deposit.id), encode(deposit))


def get_redemption(kv: KV, redemption_id: int) -> storage_pb2.Redemption | None:
    raw = kv.get(REDEMPTION + u64(redemption_id))
    return storage_pb2.Redemption.FromString(raw) if raw is not None else None


def _redemption(kv: KV, redemption_id: int) -> storage_pb2.Redemption:
    redemption = get_redemption(kv, redemption_id)
    assert redemption is not None, f"redemption index points at a missing one {redemption_id}"
    return redemption


def _set_redemption(kv: CacheKV, redemption: storage_pb2.Redemption) -> None:
    kv.set(REDEMPTION + u64(redemption.id), encode(redemption))


def deposits_of(kv: KV, storage: bytes, n: int) -> list[storage_pb2.Deposit]:
    """A storage's deposits for interval n in submission order; n = 0: every unsettled one."""
    if n:
        return [_deposit(kv, _id(k)) for k, _ in kv.iterate(DEPOSITS_OF + storage + u64(n))]
    address = crypto.encode_address(storage)
    pending = (_deposit(kv, _id(k)) for k, _ in kv.iterate(DEPOSITS_DUE))
    return [d for d in pending if d.storage == address]


def redemptions_of(kv: KV, storage: bytes, n: int) -> list[storage_pb2.Redemption]:
    """A storage's redemptions for interval n in submission order; n = 0: every unsettled one."""
    if n:
        prefix = REDEMPTIONS_OF + storage + u64(n)
        return [_redemption(kv, _id(k)) for k, _ in kv.iterate(prefix)]
    address = crypto.encode_address(storage)
    pending = (_redemption(kv, _id(k)) for k, _ in kv.iterate(REDEMPTIONS_DUE))
    return [r for r in pending if r.storage == address]


def _sum(kv: KV, key: bytes) -> int:
    raw = kv.get(key)
    return int(raw) if raw is not None else 0


def committed_wh(kv: KV, storage: bytes, n: int) -> int:
    """Wh the unsettled deposits of interval n commit to ``storage``."""
    return _sum(kv, _COMMITTED + storage + u64(n))


def requested_wh(kv: KV, storage: bytes, n: int) -> int:
    """Wh the unsettled redemptions of interval n ask of ``storage``."""
    return _sum(kv, _REQUESTED + storage + u64(n))


def _add_sum(kv: CacheKV, key: bytes, wh: int) -> None:
    kv.set(key, str(_sum(kv, key) + wh).encode())


# ---------------------------------------------------------------------------
# Credits: the one write path for balances


def _move_credits(
    kv: CacheKV,
    state: storage_pb2.StorageState,
    holder: bytes,
    *,
    spendable: int = 0,
    locked: int = 0,
) -> storage_pb2.CreditBalance:
    """Change ``holder``'s spendable and locked credits on the storage by the given
    (signed) amounts, keeping the state's credits_wh, locked_wh and holders in step.

    The caller has checked that neither amount goes below zero (asserted) and
    writes ``state`` afterwards. A balance that reaches zero is deleted.
    """
    storage = crypto.decode_address(state.storage)
    balance = get_balance(kv, storage, holder)
    if balance is None:
        balance = storage_pb2.CreditBalance(
            storage=state.storage, holder=crypto.encode_address(holder)
        )
        state.holders += 1
        kv.set(BY_HOLDER + holder + storage, b"\x01")
    wh, held = balance.wh + spendable, balance.locked_wh + locked
    assert wh >= 0 and held >= 0, f"credits of {balance.holder} would go negative ({wh}, {held})"
    balance.wh, balance.locked_wh = wh, held
    state.credits_wh += spendable + locked
    state.locked_wh += locked
    if wh or held:
        kv.set(BALANCE + storage + holder, encode(balance))
    else:
        kv.delete(BALANCE + storage + holder)
        kv.delete(BY_HOLDER + holder + storage)
        state.holders -= 1
    return balance


# ---------------------------------------------------------------------------
# Messages


def _storage_spec(kv: KV, storage: bytes) -> registry_pb2.StorageSpec:
    """The spec of an approved storage participant; raises ErrNotStorage / ErrStorageNotApproved."""
    address = crypto.encode_address(storage)
    participant = registry.get_participant(kv, storage)
    if participant is None or participant.role != registry_pb2.ROLE_STORAGE:
        role = "not registered" if participant is None else registry.role_name(participant.role)
        raise ErrNotStorage(f"{address} is {role}, not a storage participant")
    if participant.status != APPROVED:
        raise ErrStorageNotApproved(
            f"storage {address} is {registry.status_name(participant.status)}, not approved"
        )
    return participant.storage


def _require_metered(kv: KV, who: bytes, doing: str) -> None:
    """``who`` is an approved participant with a live meter (its deliveries are metered)."""
    address = crypto.encode_address(who)
    participant = registry.get_participant(kv, who)
    if participant is None:
        raise ErrNotParticipant(f"{address} has not applied to the registry")
    if participant.status != APPROVED:
        raise ErrNotApproved(
            f"{address} is {registry.status_name(participant.status)}; "
            f"only approved participants {doing}"
        )
    if not any(not m.revoked for m in registry.meters_of(kv, who)):
        raise ErrNoMeter(f"{address} has no live meter; only metered participants {doing}")


def _new_state(storage: bytes, spec: registry_pb2.StorageSpec) -> storage_pb2.StorageState:
    return storage_pb2.StorageState(storage=crypto.encode_address(storage), spec=spec)


def state_of(kv: KV, storage: bytes, spec: registry_pb2.StorageSpec) -> storage_pb2.StorageState:
    """The storage's state, or the empty state of one that never took a deposit."""
    state = get_state(kv, storage)
    return state if state is not None else _new_state(storage, spec)


def interval_limit(kv: KV, power_w: int, n: int) -> int:
    """Wh at ``power_w`` over interval n: floor(power_w * L / 3600), L its length in seconds."""
    record = market.get_interval(kv, n)
    return power_w * (record.end_time - record.start_time) // SECONDS_PER_HOUR


def credits_for(wh: int, spec: registry_pb2.StorageSpec) -> int:
    """Credits for ``wh`` delivered into storage: floor(wh * efficiency_ppm / 10^6)."""
    return wh * spec.efficiency_ppm // PPM


def deposit(ctx: Context, signer: bytes, msg: storage_pb2.MsgDeposit) -> storage_pb2.Deposit:
    kv = ctx.kv
    storage = crypto.decode_address(msg.storage)  # checked by validate_storage_deposit
    spec = _storage_spec(kv, storage)
    if signer == storage:
        raise ErrSelfDealing(f"storage {msg.storage} cannot deposit into itself")
    _require_metered(kv, signer, "deposit into storage")
    n, wh = msg.interval, msg.wh
    market.check_interval_open(kv, n, _now(ctx))
    reserve = credits_for(wh, spec)
    if reserve < 1:
        raise ErrInvalidAmount(
            f"{wh} Wh at efficiency {spec.efficiency_ppm} ppm mints no credit (floor 0)"
        )
    limit = interval_limit(kv, spec.max_charge_w, n)
    committed = committed_wh(kv, storage, n)
    if committed + wh > limit:
        raise ErrChargeLimit(
            f"storage {msg.storage} charges at most {limit} Wh in interval {n} "
            f"({spec.max_charge_w} W); {committed} Wh are committed, {wh} Wh more asked"
        )
    state = state_of(kv, storage, spec)
    free = spec.capacity_wh - state.stored_wh - state.reserved_wh
    if reserve > free:
        raise ErrCapacity(
            f"a deposit of {wh} Wh needs {reserve} Wh of capacity; storage {msg.storage} has "
            f"{free} Wh free ({spec.capacity_wh} capacity, {state.stored_wh} stored, "
            f"{state.reserved_wh} reserved)"
        )
    record = storage_pb2.Deposit(
        id=take_counter(kv, _NEXT_DEPOSIT),
        storage=msg.storage,
        depositor=crypto.encode_address(signer),
        interval=n,
        committed_wh=wh,
        height=ctx.height,
        reserved_wh=reserve,
    )
    state.reserved_wh += reserve
    _set_state(kv, state)
    _set_deposit(kv, record)
    kv.set(DEPOSITS_OF + storage + u64(n) + u64(record.id), b"\x01")
    kv.set(DEPOSITS_DUE + u64(n) + u64(record.id), b"\x01")
    _add_sum(kv, _COMMITTED + storage + u64(n), wh)
    ctx.emit(
        "storage_deposit",
        deposit_id=record.id,
        storage=record.storage,
        depositor=record.depositor,
        interval=n,
        committed_wh=wh,
        reserved_wh=reserve,
    )
    return record


def redeem(ctx: Context, signer: bytes, msg: storage_pb2.MsgRedeem) -> storage_pb2.Redemption:
    kv = ctx.kv
    storage = crypto.decode_address(msg.storage)  # checked by validate_storage_redeem
    spec = _storage_spec(kv, storage)
    if signer == storage:
        raise ErrSelfDealing(f"storage {msg.storage} cannot redeem from itself")
    _require_metered(kv, signer, "redeem credits for energy")
    n, wh = msg.interval, msg.wh
    market.check_interval_open(kv, n, _now(ctx))
    holder = crypto.encode_address(signer)
    balance = get_balance(kv, storage, signer)
    spendable = balance.wh if balance is not None else 0
    if wh > spendable:
        raise ErrInsufficientCredits(
            f"{holder} has {spendable} Wh of spendable credits on {msg.storage}, redeems {wh}"
        )
    limit = interval_limit(kv, spec.max_discharge_w, n)
    requested = requested_wh(kv, storage, n)
    if requested + wh > limit:
        raise ErrDischargeLimit(
            f"storage {msg.storage} discharges at most {limit} Wh in interval {n} "
            f"({spec.max_discharge_w} W); {requested} Wh are requested, {wh} Wh more asked"
        )
    state = get_state(kv, storage)
    assert state is not None, "credits on a storage without state"
    record = storage_pb2.Redemption(
        id=take_counter(kv, _NEXT_REDEMPTION),
        storage=msg.storage,
        holder=holder,
        interval=n,
        requested_wh=wh,
        height=ctx.height,
    )
    _move_credits(kv, state, signer, spendable=-wh, locked=wh)
    _set_state(kv, state)
    _set_redemption(kv, record)
    kv.set(REDEMPTIONS_OF + storage + u64(n) + u64(record.id), b"\x01")
    kv.set(REDEMPTIONS_DUE + u64(n) + u64(record.id), b"\x01")
    _add_sum(kv, _REQUESTED + storage + u64(n), wh)
    ctx.emit(
        "storage_redeem",
        redemption_id=record.id,
        storage=record.storage,
        holder=holder,
        interval=n,
        requested_wh=wh,
    )
    return record


def transfer_credits(ctx: Context, signer: bytes, msg: storage_pb2.MsgTransferCredits) -> None:
    kv = ctx.kv
    storage = crypto.decode_address(msg.storage)  # both checked by validate_transfer_credits
    to = crypto.decode_address(msg.to)
    sender = crypto.encode_address(signer)
    if to == signer:
        raise ErrInvalidRecipient(f"{msg.to} is the sender: a transfer to oneself moves nothing")
    balance = get_balance(kv, storage, signer)
    spendable = balance.wh if balance is not None else 0
    if msg.wh > spendable:
        raise ErrInsufficientCredits(
            f"{sender} has {spendable} Wh of spendable credits on {msg.storage}, sends {msg.wh}"
        )
    state = get_state(kv, storage)
    assert state is not None, "credits on a storage without state"
    _move_credits(kv, state, signer, spendable=-msg.wh)
    _move_credits(kv, state, to, spendable=msg.wh)
    _set_state(kv, state)
    ctx.emit(
        "storage_transfer_credits",
        storage=msg.storage,
        sender=sender,
        recipient=msg.to,
        wh=msg.wh,
    )


# ---------------------------------------------------------------------------
# Settlement of interval n (called by settlement.settle_interval)


@dataclass(frozen=True, slots=True)
class Measured:
    """What settlement measured of one participant in an interval (Wh, loss-referred
    to the coupling point as settlement refers them; metered, never imputed)."""

    exported_wh: int  # X
    imported_wh: int  # M
    sold_wh: int  # S: contracted sales (local trades + grid fill)
    bought_wh: int  # B: contracted purchases
    readings: bool  # whether any of its meters reported

    def surplus(self) -> int:
        """Net export beyond its contracts: max(0, (X - M) - (S - B)); 0 without a reading."""
        if not self.readings:
            return 0
        return max(0, (self.exported_wh - self.imported_wh) - (self.sold_wh - self.bought_wh))

    def intake(self) -> int:
        """A storage's import beyond its own purchases: max(0, M - B); 0 without a reading."""
        return max(0, self.imported_wh - self.bought_wh) if self.readings else 0

    def outflow(self) -> int:
        """A storage's export beyond its own sales: max(0, X - S); 0 without a reading."""
        return max(0, self.exported_wh - self.sold_wh) if self.readings else 0


NOTHING = Measured(0, 0, 0, 0, False)


@dataclass(frozen=True, slots=True)
class Delivery:
    """Energy that went from ``seller`` to ``buyer`` through a storage, at no price."""

    seller: bytes
    buyer: bytes
    wh: int


def settle(ctx: Context, n: int, measured: Mapping[bytes, Measured]) -> list[Delivery]:
    """Settle the deposits, then the redemptions, of interval n (module docstring);
    returns the deliveries, in that order. ``measured`` lacks participants settlement
    saw no contract or reading of: they count as having no reading."""
    kv = ctx.kv
    deliveries: list[Delivery] = []
    loaded: dict[bytes, storage_pb2.StorageState] = {}

    def state(storage: bytes) -> storage_pb2.StorageState:
        if storage not in loaded:
            found = get_state(kv, storage)
            assert found is not None, "a deposit or redemption on a storage without state"
            loaded[storage] = found
        return loaded[storage]

    used: dict[bytes, int] = {}  # surplus of each depositor used by its earlier deposits
    intake: dict[bytes, int] = {}  # what each storage can still take in
    for key, _ in list(kv.iterate(DEPOSITS_DUE + u64(n))):
        d = _deposit(kv, _id(key))
        storage, depositor = crypto.decode_address(d.storage), crypto.decode_address(d.depositor)
        s = state(storage)
        room = intake.setdefault(storage, measured.get(storage, NOTHING).intake())
        surplus = measured.get(depositor, NOTHING).surplus() - used.get(depositor, 0)
        delivered = min(d.committed_wh, surplus, room)
        credited = min(credits_for(delivered, s.spec), s.spec.capacity_wh - s.stored_wh)
        used[depositor] = used.get(depositor, 0) + delivered
        intake[storage] = room - delivered
        s.reserved_wh -= d.reserved_wh
        if credited:
            _move_credits(kv, s, depositor, spendable=credited)
        s.stored_wh += credited
        s.deposited_wh += delivered
        s.minted_wh += credited
        d.delivered_wh, d.credited_wh, d.settled = delivered, credited, True
        _set_deposit(kv, d)
        kv.delete(key)
        kv.delete(_COMMITTED + storage + u64(n))
        if delivered:
            deliveries.append(Delivery(depositor, storage, delivered))
        ctx.emit(
            "storage_deposit_settled",
            deposit_id=d.id,
            storage=d.storage,
            depositor=d.depositor,
            interval=n,
            committed_wh=d.committed_wh,
            delivered_wh=delivered,
            credited_wh=credited,
        )
    outflow: dict[bytes, int] = {}  # what each storage can still give out
    for key, _ in list(kv.iterate(REDEMPTIONS_DUE + u64(n))):
        r = _redemption(kv, _id(key))
        storage, holder = crypto.decode_address(r.storage), crypto.decode_address(r.holder)
        s = state(storage)
        room = outflow.setdefault(storage, measured.get(storage, NOTHING).outflow())
        delivered = min(r.requested_wh, room, s.stored_wh)
        outflow[storage] = room - delivered
        # Burn what was delivered, unlock the rest: both leave the locked credits.
        _move_credits(kv, s, holder, locked=-r.requested_wh, spendable=r.requested_wh - delivered)
        s.stored_wh -= delivered
        s.redeemed_wh += delivered
        r.delivered_wh, r.settled = delivered, True
        _set_redemption(kv, r)
        kv.delete(key)
        kv.delete(_REQUESTED + storage + u64(n))
        if delivered:
            deliveries.append(Delivery(storage, holder, delivered))
        ctx.emit(
            "storage_redeem_settled",
            redemption_id=r.id,
            storage=r.storage,
            holder=r.holder,
            interval=n,
            requested_wh=r.requested_wh,
            delivered_wh=delivered,
            unlocked_wh=r.requested_wh - delivered,
        )
    for storage in sorted(loaded):
        _set_state(kv, loaded[storage])
    return deliveries


# ---------------------------------------------------------------------------
# Invariants


def check_invariants(kv: KV) -> None:
    """The module docstring's invariants, walking every state, balance and unsettled
    deposit and redemption: for tests and audits.

    Raises AssertionError naming the storage and both values.
    """
    reserved: dict[str, int] = {}
    for key, _ in kv.iterate(DEPOSITS_DUE):
        d = _deposit(kv, _id(key))
        reserved[d.storage] = reserved.get(d.storage, 0) + d.reserved_wh
    requested: dict[str, int] = {}
    for key, _ in kv.iterate(REDEMPTIONS_DUE):
        r = _redemption(kv, _id(key))
        requested[r.storage] = requested.get(r.storage, 0) + r.requested_wh
    seen = set()
    for s in states(kv):
        seen.add(s.storage)
        name, capacity = s.storage, s.spec.capacity_wh
        if s.stored_wh > capacity:
            raise AssertionError(f"storage {name}: stored {s.stored_wh} Wh > capacity {capacity}")
        if s.stored_wh + s.reserved_wh > capacity:
            raise AssertionError(
                f"storage {name}: stored {s.stored_wh} + reserved {s.reserved_wh} Wh > "
                f"capacity {capacity}"
            )
        if s.stored_wh != s.minted_wh - s.redeemed_wh:
            raise AssertionError(
                f"storage {name}: stored_wh vs minted - redeemed: {s.stored_wh} != "
                f"{s.minted_wh - s.redeemed_wh}"
            )
        if s.credits_wh > s.stored_wh:
            raise AssertionError(
                f"storage {name}: credits {s.credits_wh} Wh > stored {s.stored_wh} Wh"
            )
        balances = holders_of(kv, crypto.decode_address(name))
        total = sum(b.wh + b.locked_wh for b in balances)
        locked = sum(b.locked_wh for b in balances)
        if any(not (b.wh or b.locked_wh) for b in balances):
            raise AssertionError(f"storage {name}: a zero balance is stored")
        for what, recorded, actual in (
            ("credits_wh vs the balances", s.credits_wh, total),
            ("locked_wh vs the locked balances", s.locked_wh, locked),
            ("locked_wh vs the unsettled redemptions", s.locked_wh, requested.get(name, 0)),
            ("reserved_wh vs the unsettled deposits", s.reserved_wh, reserved.get(name, 0)),
            ("holders vs the balances", s.holders, len(balances)),
        ):
            if recorded != actual:
                raise AssertionError(f"storage {name}: {what}: {recorded} != {actual}")
    orphans = sorted((set(reserved) | set(requested)) - seen)
    if orphans:
        raise AssertionError(f"deposits or redemptions on storages without state: {orphans}")
