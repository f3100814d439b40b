"""Bank keeper: the one write path for balances and supply.

Keys (prefix 0x02):
    0x02 0x00                        -> Params (protobuf)
    0x02 0x01 | address(20) | denom  -> balance, decimal ASCII
    0x02 0x02 | denom                -> total supply, decimal ASCII

Balances are never stored as zero (the key is deleted instead), so
iterating an account's balances lists exactly its non-zero coins. Every
balance change goes through ``_add``/``_sub``, which validate, and every
transfer emits the same ``transfer`` event. Supply changes only by
explicit ``mint``/``burn`` (DESIGN.md section 4: supply is conserved).

One account may go negative: the main grid's (``MAIN_GRID``). The main grid
is settled outside the chain (DESIGN.md section 1), so when it buys more
from the microgrid than it sells, its balance shows what it owes. Its
balance is stored signed; supply equals the signed sum of all balances.
"""

from __future__ import annotations

import hashlib

from app import crypto
from app.coins import MAX_AMOUNT, Coin
from app.context import Context
from app.errors import register
from app.kv import KV, CacheKV
from app.modules import PREFIX_BANK
from app.pb.mgrid.bank.v1 import bank_pb2

ErrInsufficientFunds = register("bank", 2, "insufficient funds")
ErrUnknownDenom = register("bank", 3, "unknown denom")
ErrBalanceOverflow = register("bank", 4, "balance overflow")

_PARAMS = PREFIX_BANK + b"\x00"
_BALANCE = PREFIX_BANK + b"\x01"
_SUPPLY = PREFIX_BANK + b"\x02"


def module_address(name: str) -> bytes:
    """Deterministic address of a module-owned account (no private key exists)."""
    return hashlib.sha256(b"module/" + name.encode()).digest()[: crypto.ADDRESS_LEN]


FEE_COLLECTOR = module_address("fee_collector")
MAIN_GRID = module_address("main_grid")


def balance_key(address: bytes, denom: str) -> bytes:
    return _BALANCE + address + denom.encode()


def supply_key(denom: str) -> bytes:
    return _SUPPLY + denom.encode()


def get_params(kv: KV) -> bank_pb2.Params:
    raw = kv.get(_PARAMS)
    if raw is None:
        raise RuntimeError("bank params missing from state: genesis was not applied")
    return bank_pb2.Params.FromString(raw)


def set_params(kv: CacheKV, params: bank_pb2.Params) -> None:
    kv.set(_PARAMS, params.SerializeToString(deterministic=True))


def get_balance(kv: KV, address: bytes, denom: str) -> int:
    raw = kv.get(balance_key(address, denom))
    return int(raw) if raw is not None else 0


def get_balances(kv: KV, address: bytes) -> list[Coin]:
    prefix = _BALANCE + address
    return [Coin(k[len(prefix) :].decode(), int(v)) for k, v in kv.iterate(prefix)]


def get_supply(kv: KV, denom: str) -> int:
    raw = kv.get(supply_key(denom))
    return int(raw) if raw is not None else 0


def all_supply(kv: KV) -> list[Coin]:
    return [Coin(k[len(_SUPPLY) :].decode(), int(v)) for k, v in kv.iterate(_SUPPLY)]


def _store_amount(kv: CacheKV, key: bytes, amount: int) -> None:
    if amount:
        kv.set(key, str(amount).encode())
    else:
        kv.delete(key)


def _sub(kv: CacheKV, address: bytes, coin: Coin) -> None:
    have = get_balance(kv, address, coin.denom)
    if address == MAIN_GRID:
        if have - coin.amount < -MAX_AMOUNT:
            raise ErrBalanceOverflow(f"the main grid would owe more than {MAX_AMOUNT}")
    elif have < coin.amount:
        raise ErrInsufficientFunds(
            f"{crypto.encode_address(address)} has {have}{coin.denom}, needs {coin}"
        )
    _store_amount(kv, balance_key(address, coin.denom), have - coin.amount)


def _add(kv: CacheKV, address: bytes, coin: Coin) -> None:
    have = get_balance(kv, address, coin.denom)
    if have + coin.amount > MAX_AMOUNT:
        raise ErrBalanceOverflow(
            f"{crypto.encode_address(address)} would hold more than {MAX_AMOUNT}"
        )
    _store_amount(kv, balance_key(address, coin.denom), have + coin.amount)


def send(ctx: Context, sender: bytes, recipient: bytes, coins: list[Coin]) -> None:
    """Move coins between accounts, all or nothing (callers run on a branch)."""
    for coin in coins:
        if get_supply(ctx.kv, coin.denom) == 0:
            raise ErrUnknownDenom(f"no {coin.denom} exists on this chain")
        _sub(ctx.kv, sender, coin)
        _add(ctx.kv, recipient, coin)
    ctx.emit(
        "transfer",
        sender=crypto.encode_address(sender),
        recipient=crypto.encode_address(recipient),
        amount=",".join(str(c) for c in coins),
    )


def mint(ctx: Context, recipient: bytes, coin: Coin) -> None:
    supply = get_supply(ctx.kv, coin.denom) + coin.amount
    if supply > MAX_AMOUNT:
        raise ErrBalanceOverflow(f"supply of {coin.denom} would exceed {MAX_AMOUNT}")
    _add(ctx.kv, recipient, coin)
    _store_amount(ctx.kv, supply_key(coin.denom), supply)
    ctx.emit("mint", recipient=crypto.encode_address(recipient), amount=str(coin))


def burn(ctx: Context, holder: bytes, coin: Coin) -> None:
    _sub(ctx.kv, holder, coin)
    _store_amount(ctx.kv, supply_key(coin.denom), get_supply(ctx.kv, coin.denom) - coin.amount)
    ctx.emit("burn", holder=crypto.encode_address(holder), amount=str(coin))


def check_invariants(kv: KV) -> None:
    """Total supply of each denom equals the sum of all balances of it.

    Walks every balance: for tests and audits, not for every block of a
    large chain. Raises AssertionError naming the denom and both sums.
    """
    sums: dict[str, int] = {}
    for key, value in kv.iterate(_BALANCE):
        denom = key[len(_BALANCE) + crypto.ADDRESS_LEN :].decode()
        amount = int(value)
        if amount == 0 or (amount < 0 and key[len(_BALANCE) :][: crypto.ADDRESS_LEN] != MAIN_GRID):
            raise AssertionError(f"stored non-positive balance {amount} at {key.hex()}")
        sums[denom] = sums.get(denom, 0) + amount
    supply = {c.denom: c.amount for c in all_supply(kv)}
    if sums != supply:
        raise AssertionError(f"supply {supply} != sum of balances {sums}")
