"""Market parameters and the regulator's bounds: parsing and validation.

``Params`` and ``Bounds`` travel as protobuf (mgrid.market.v1); the keeper
works with ``MarketParams`` and ``MarketBounds``, where fractions are exact
``Fraction``s and accounts are 20-byte addresses. Both are validated once,
at genesis or in MsgUpdateParams, and each failure names the field.

Fractions (k, tax and collateral rates) are written as a decimal ("0.05")
or a ratio ("1/20") of plain digits: no sign, exponent or spaces, so that
every validator reads the same value from the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from app import crypto
from app.errors import register
from app.modules import common
from app.modules.common import format_fraction
from app.modules.market.clearing import MECHANISMS
from app.pb.mgrid.market.v1 import market_pb2

ErrInvalidParams = register("market", 15, "invalid market params")
ErrParamsOutOfBounds = register("market", 14, "params outside the regulator's bounds")

MAX_UINT64 = 2**64 - 1
MAX_ORDER_WH = 10**12  # 1 TWh per order: far above any microgrid, far below overflow


def parse_fraction(text: str, field: str) -> Fraction:
    """Parse "0.05", "1/20" or "0" exactly; raises ErrInvalidParams naming ``field``."""
    try:
        return common.parse_fraction(text)
    except ValueError as exc:
        raise ErrInvalidParams(f"{field}: {exc}") from None


@dataclass(frozen=True, slots=True)
class MarketBounds:
    interval_seconds: tuple[int, int]
    retail_tariff: tuple[int, int]
    feed_in_tariff: tuple[int, int]
    grid_fee_max: int
    tax_rate_max: Fraction
    seller_collateral_rate: tuple[Fraction, Fraction]
    mechanisms: tuple[str, ...]
    max_open_orders_max: int


@dataclass(frozen=True, slots=True)
class MarketParams:
    interval_seconds: int
    gate_closure_seconds: int
    max_intervals_ahead: int
    mechanism: str
    k: Fraction
    retail_tariff: int
    feed_in_tariff: int
    min_price: int
    max_price: int
    grid_fee_per_kwh: int
    tax_rate: Fraction
    fee_account: bytes
    tax_account: bytes
    surplus_account: bytes
    subsidy_account: bytes
    seller_collateral_rate: Fraction
    max_open_orders: int
    min_order_wh: int
    max_order_wh: int


def _address(text: str, field: str) -> bytes:
    try:
        return crypto.decode_address(text)
    except crypto.AddressError as exc:
        raise ErrInvalidParams(f"{field}: {exc}") from None


def parse_bounds(proto: market_pb2.Bounds) -> MarketBounds:
    """Check the bounds are coherent (each range low <= high, known mechanisms)."""
    b = MarketBounds(
        interval_seconds=(proto.interval_seconds_min, proto.interval_seconds_max),
        retail_tariff=(proto.retail_tariff_min, proto.retail_tariff_max),
        feed_in_tariff=(proto.feed_in_tariff_min, proto.feed_in_tariff_max),
        grid_fee_max=proto.grid_fee_max,
        tax_rate_max=parse_fraction(proto.tax_rate_max or "0", "bounds.tax_rate_max"),
        seller_collateral_rate=(
            parse_fraction(
                proto.seller_collateral_rate_min or "0", "bounds.seller_collateral_rate_min"
            ),
            parse_fraction(
                proto.seller_collateral_rate_max or "0", "bounds.seller_collateral_rate_max"
            ),
        ),
        mechanisms=tuple(proto.mechanisms),
        max_open_orders_max=proto.max_open_orders_max,
    )
    for name in ("interval_seconds", "retail_tariff", "feed_in_tariff", "seller_collateral_rate"):
        lo, hi = getattr(b, name)
        if lo > hi:
            raise ErrInvalidParams(f"bounds.{name}: min {lo} exceeds max {hi}")
    if b.interval_seconds[0] < 1:
        raise ErrInvalidParams("bounds.interval_seconds_min: must be at least 1")
    if b.tax_rate_max > 1:
        raise ErrInvalidParams(f"bounds.tax_rate_max: must be at most 1, got {b.tax_rate_max}")
    if not b.mechanisms:
        raise ErrInvalidParams("bounds.mechanisms: at least one mechanism must be allowed")
    for m in b.mechanisms:
        if m not in MECHANISMS:
            raise ErrInvalidParams(
                f"bounds.mechanisms: unknown {m!r}, expected some of {', '.join(MECHANISMS)}"
            )
    if len(set(b.mechanisms)) != len(b.mechanisms):
        raise ErrInvalidParams("bounds.mechanisms: listed twice")
    return b


def _within(name: str, value: int | Fraction, lo: int | Fraction, hi: int | Fraction) -> None:
    if not lo <= value <= hi:
        raise ErrParamsOutOfBounds(f"{name} {value} is outside the regulator's bounds [{lo}, {hi}]")


def parse_params(proto: market_pb2.Params, bounds: MarketBounds) -> MarketParams:
    """Validate params (ErrInvalidParams) and check them against ``bounds`` (ErrParamsOutOfBounds)."""
    if proto.interval_seconds < 1:
        raise ErrInvalidParams("interval_seconds: must be at least 1")
    if proto.max_intervals_ahead < 1:
        raise ErrInvalidParams("max_intervals_ahead: must be at least 1")
    if proto.mechanism not in MECHANISMS:
        raise ErrInvalidParams(
            f"mechanism: unknown {proto.mechanism!r}, expected one of {', '.join(MECHANISMS)}"
        )
    k = parse_fraction(proto.k or "1/2", "k")
    if k > 1:
        raise ErrInvalidParams(f"k: must be in [0, 1], got {proto.k}")
    tax = parse_fraction(proto.tax_rate or "0", "tax_rate")
    collateral = parse_fraction(proto.seller_collateral_rate or "0", "seller_collateral_rate")
    if proto.feed_in_tariff > proto.retail_tariff:
        raise ErrInvalidParams(
            f"feed_in_tariff {proto.feed_in_tariff} exceeds retail_tariff {proto.retail_tariff}"
        )
    min_price = proto.min_price if proto.HasField("min_price") else proto.feed_in_tariff
    max_price = proto.max_price if proto.HasField("max_price") else proto.retail_tariff
    if min_price > max_price:
        raise ErrInvalidParams(f"min_price {min_price} exceeds max_price {max_price}")
    if not 1 <= proto.min_order_wh <= proto.max_order_wh <= MAX_ORDER_WH:
        raise ErrInvalidParams(
            f"order size: need 1 <= min_order_wh <= max_order_wh <= {MAX_ORDER_WH}, "
            f"got {proto.min_order_wh}..{proto.max_order_wh}"
        )
    if proto.max_open_orders < 1:
        raise ErrInvalidParams("max_open_orders: must be at least 1")
    p = MarketParams(
        interval_seconds=proto.interval_seconds,
        gate_closure_seconds=proto.gate_closure_seconds,
        max_intervals_ahead=proto.max_intervals_ahead,
        mechanism=proto.mechanism,
        k=k,
        retail_tariff=proto.retail_tariff,
        feed_in_tariff=proto.feed_in_tariff,
        min_price=min_price,
        max_price=max_price,
        grid_fee_per_kwh=proto.grid_fee_per_kwh,
        tax_rate=tax,
        fee_account=_address(proto.fee_account, "fee_account"),
        tax_account=_address(proto.tax_account, "tax_account"),
        surplus_account=_address(proto.surplus_account, "surplus_account"),
        subsidy_account=_address(proto.subsidy_account, "subsidy_account"),
        seller_collateral_rate=collateral,
        max_open_orders=proto.max_open_orders,
        min_order_wh=proto.min_order_wh,
        max_order_wh=proto.max_order_wh,
    )
    _within("interval_seconds", p.interval_seconds, *bounds.interval_seconds)
    _within("retail_tariff", p.retail_tariff, *bounds.retail_tariff)
    _within("feed_in_tariff", p.feed_in_tariff, *bounds.feed_in_tariff)
    _within("grid_fee_per_kwh", p.grid_fee_per_kwh, 0, bounds.grid_fee_max)
    _within("tax_rate", p.tax_rate, 0, bounds.tax_rate_max)
    _within("seller_collateral_rate", p.seller_collateral_rate, *bounds.seller_collateral_rate)
    _within("max_open_orders", p.max_open_orders, 1, bounds.max_open_orders_max)
    # Escrow is sized with the retail ceiling, so no limit price may exceed it.
    _within("max_price", p.max_price, 0, bounds.retail_tariff[1])
    if p.mechanism not in bounds.mechanisms:
        raise ErrParamsOutOfBounds(
            f"mechanism {p.mechanism!r} is not allowed; the regulator allows {', '.join(bounds.mechanisms)}"
        )
    return p


def params_to_proto(p: MarketParams) -> market_pb2.Params:
    return market_pb2.Params(
        interval_seconds=p.interval_seconds,
        gate_closure_seconds=p.gate_closure_seconds,
        max_intervals_ahead=p.max_intervals_ahead,
        mechanism=p.mechanism,
        k=format_fraction(p.k),
        retail_tariff=p.retail_tariff,
        feed_in_tariff=p.feed_in_tariff,
        min_price=p.min_price,
        max_price=p.max_price,
        grid_fee_per_kwh=p.grid_fee_per_kwh,
        tax_rate=format_fraction(p.tax_rate),
        fee_account=crypto.encode_address(p.fee_account),
        tax_account=crypto.encode_address(p.tax_account),
        surplus_account=crypto.encode_address(p.surplus_account),
        subsidy_account=crypto.encode_address(p.subsidy_account),
        seller_collateral_rate=format_fraction(p.seller_collateral_rate),
        max_open_orders=p.max_open_orders,
        min_order_wh=p.min_order_wh,
        max_order_wh=p.max_order_wh,
    )
