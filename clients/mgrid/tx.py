"""Building, checking and signing transactions in the wallet (DESIGN.md section 3).

The wallet signs with app/tx/codec.py, the code the chain decodes with, and
before anything leaves the machine it runs the checks the chain will run
without state: the envelope (chain id, memo size, message count) and each
message's ``validate_basic`` from app/router.py. A transaction the chain
would reject for its shape is therefore refused here with the same message,
and costs no fee.

Offline signing moves a transaction between machines as JSON documents:

- unsigned (``tx ... --generate-only``)::

      {"type": "mgrid/unsigned-tx", "version": 1,
       "body": <TxBody in protobuf's JSON mapping, proto field names>,
       "unset": ["chain_id", "sequence", "fee"]}

  ``unset`` lists the envelope fields not decided when the document was
  made; ``mgrid tx sign`` fills them from its flags or from the node.

- signed (``mgrid tx sign``)::

      {"type": "mgrid/signed-tx", "version": 1,
       "body": <the same JSON, for people>,
       "body_bytes": <base64 of the exact bytes signed>,
       "pub_key": <base64>, "signature": <base64>, "txhash": <hex>}

  Broadcasting sends ``Tx{body_bytes, pub_key, signature}``: the body is
  never serialised again after signing, and a document whose ``body`` no
  longer matches ``body_bytes`` (edited by hand) is refused.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format

from app import crypto
from app.coins import Coin
from app.modules.settlement.reading import sign_reading
from app.pb.mgrid.bank.v1 import bank_pb2
from app.pb.mgrid.ibc.energy.v1 import energy_pb2
from app.pb.mgrid.ibc.transfer.v1 import transfer_pb2
from app.pb.mgrid.market.v1 import market_pb2
from app.pb.mgrid.registry.v1 import registry_pb2
from app.pb.mgrid.settlement.v1 import settlement_pb2
from app.pb.mgrid.tx.v1 import tx_pb2
from app.tx import codec

MAX_UINT64 = 2**64 - 1
UNSIGNED_TYPE = "mgrid/unsigned-tx"
SIGNED_TYPE = "mgrid/signed-tx"
DOC_VERSION = 1
FILLABLE = ("chain_id", "sequence", "fee")


class TxBuildError(ValueError):
    """The transaction cannot be built as asked; the message names the field at fault."""


class TxFileError(TxBuildError):
    """A transaction document (unsigned or signed JSON) is malformed or was altered."""


@dataclass(frozen=True, slots=True)
class TxParams:
    """Envelope fields of a transaction, apart from the signer and messages."""

    chain_id: str
    sequence: int
    fee: Coin
    timeout_height: int = 0
    memo: str = ""


def msg_send(to_address: str, amount: Sequence[Coin]) -> tx_pb2.Msg:
    """A bank MsgSend of ``amount`` to ``to_address`` (the signer is the sender)."""
    return tx_pb2.Msg(
        send=bank_pb2.MsgSend(to_address=to_address, amount=[c.to_proto() for c in amount])
    )


# -- registry ----------------------------------------------------------------------------------


def msg_apply(role: int, bus: str, storage: registry_pb2.StorageSpec | None = None) -> tx_pb2.Msg:
    """The signer applies to take part as ``role`` (a ``registry.v1.Role``) on ``bus``;
    a storage participant states its ``storage`` spec."""
    msg = registry_pb2.MsgApply(role=role, bus=bus)  # type: ignore[arg-type]
    if storage is not None:
        msg.storage.CopyFrom(storage)
    return tx_pb2.Msg(apply=msg)


def msg_set_renewable(participant: str, technology: str) -> tx_pb2.Msg:
    return tx_pb2.Msg(
        set_renewable=registry_pb2.MsgSetRenewable(participant=participant, technology=technology)
    )


def msg_approve(participant: str) -> tx_pb2.Msg:
    return tx_pb2.Msg(approve=registry_pb2.MsgApprove(participant=participant))


def msg_reject(participant: str, reason: str = "") -> tx_pb2.Msg:
    return tx_pb2.Msg(reject=registry_pb2.MsgReject(participant=participant, reason=reason))


def msg_set_suspended(participant: str, suspended: bool, reason: str = "") -> tx_pb2.Msg:
    """Suspend (``suspended``) or reinstate (not ``suspended``) a participant."""
    return tx_pb2.Msg(
        set_suspended=registry_pb2.MsgSetSuspended(
            participant=participant, suspended=suspended, reason=reason
        )
    )


def msg_register_meter(participant: str, pub_key: bytes) -> tx_pb2.Msg:
    return tx_pb2.Msg(
        register_meter=registry_pb2.MsgRegisterMeter(participant=participant, pub_key=pub_key)
    )


def msg_revoke_meter(pub_key: bytes) -> tx_pb2.Msg:
    return tx_pb2.Msg(revoke_meter=registry_pb2.MsgRevokeMeter(pub_key=pub_key))


# -- market ------------------------------------------------------------------------------------


def msg_place_order(
    side: int, interval: int, quantity_wh: int, price: int | None, grid_fill: bool = False
) -> tx_pb2.Msg:
    """An order for ``interval``; ``price`` None asks for automatic pricing at gate closure."""
    order = market_pb2.MsgPlaceOrder(
        side=side,  # type: ignore[arg-type]
        interval=interval,
        quantity_wh=quantity_wh,
        grid_fill=grid_fill,
    )
    if price is not None:
        order.price = price
    return tx_pb2.Msg(place_order=order)


def msg_cancel_order(order_id: int) -> tx_pb2.Msg:
    return tx_pb2.Msg(cancel_order=market_pb2.MsgCancelOrder(order_id=order_id))


def msg_update_params(params: market_pb2.Params) -> tx_pb2.Msg:
    """Replace the market params as a whole (the chain checks them against its bounds)."""
    return tx_pb2.Msg(update_params=market_pb2.MsgUpdateParams(params=params))


def msg_publish_forecast(interval: int, generation_wh: int, demand_wh: int) -> tx_pb2.Msg:
    return tx_pb2.Msg(
        publish_forecast=market_pb2.MsgPublishForecast(
            interval=interval, generation_wh=generation_wh, demand_wh=demand_wh
        )
    )


# -- settlement -------------------------------------------------------------------------------


def msg_meter_reading(
    meter_key: crypto.PrivateKey,
    *,
    chain_id: str,
    participant: str,
    interval: int,
    exported_wh: int,
    imported_wh: int,
    sequence: int,
) -> tx_pb2.Msg:
    """A reading signed by the meter's own key; any account may submit it."""
    reading = settlement_pb2.MeterReading(
        chain_id=chain_id,
        meter=meter_key.public_key,
        participant=participant,
        interval=interval,
        exported_wh=exported_wh,
        imported_wh=imported_wh,
        sequence=sequence,
    )
    return tx_pb2.Msg(meter_reading=sign_reading(meter_key, reading))


# -- ibc applications --------------------------------------------------------------------------


def msg_transfer(
    source_channel: str,
    token: Coin,
    receiver: str,
    *,
    source_port: str = "transfer",
    timeout_height: int = 0,
    timeout_timestamp: int = 0,
    memo: str = "",
) -> tx_pb2.Msg:
    """An ICS-20 transfer of ``token`` from the signer to ``receiver`` on the chain at the
    other end of ``source_port``/``source_channel``. ``timeout_height`` is a height of that
    chain, ``timeout_timestamp`` Unix nanoseconds; 0 means none (at least one is needed)."""
    return tx_pb2.Msg(
        transfer=transfer_pb2.MsgTransfer(
            source_port=source_port,
            source_channel=source_channel,
            token=token.to_proto(),
            receiver=receiver,
            timeout_height=timeout_height,
            timeout_timestamp=timeout_timestamp,
            memo=memo,
        )
    )


def msg_offer_energy(
    source_channel: str,
    side: int,
    *,
    delivery_start: int,
    quantity_wh: int,
    limit_price: int,
    timeout_timestamp: int,
    max_payment: Coin | None = None,
    denom: str = "",
) -> tx_pb2.Msg:
    """The utility cell's offer to the microgrid at the other end of energy channel
    ``source_channel``: ``side`` (a ``market.v1.Side``) ``quantity_wh`` for the receiver's
    interval starting at ``delivery_start`` (Unix seconds), at ``limit_price`` per kWh of
    the receiver's ``denom``. A BUY escrows ``max_payment`` (vouchers of that denom)."""
    offer = energy_pb2.MsgOfferEnergy(
        source_channel=source_channel,
        side=side,  # type: ignore[arg-type]
        delivery_start=delivery_start,
        quantity_wh=quantity_wh,
        limit_price=limit_price,
        timeout_timestamp=timeout_timestamp,
        denom=denom,
    )
    if max_payment is not None:
        offer.max_payment.CopyFrom(max_payment.to_proto())
    return tx_pb2.Msg(offer_energy=offer)


def build_body(signer: str, messages: Sequence[tx_pb2.Msg], params: TxParams) -> tx_pb2.TxBody:
    """Assemble and check a TxBody; raises TxBuildError."""
    if not crypto.is_address(signer):
        raise TxBuildError(f"signer {signer!r} is not an mg address")
    if not params.chain_id:
        raise TxBuildError("chain id is empty")
    if not 0 <= params.sequence <= MAX_UINT64:
        raise TxBuildError(f"sequence {params.sequence} is outside 0..{MAX_UINT64}")
    if not 0 <= params.timeout_height <= MAX_UINT64:
        raise TxBuildError(f"timeout height {params.timeout_height} is outside 0..{MAX_UINT64}")
    if len(params.memo) > codec.MAX_MEMO_CHARS:
        raise TxBuildError(f"memo is {len(params.memo)} characters, limit {codec.MAX_MEMO_CHARS}")
    validate_messages(messages)
    return tx_pb2.TxBody(
        chain_id=params.chain_id,
        signer=signer,
        sequence=params.sequence,
        fee=params.fee.to_proto(),
        timeout_height=params.timeout_height,
        memo=params.memo,
        messages=list(messages),
    )


def validate_messages(messages: Sequence[tx_pb2.Msg]) -> None:
    """Run each message's stateless ``validate_basic``, as CheckTx will."""
    # Imported here so that key management never loads the state machine.
    from app.errors import ABCIError
    from app.router import validate_messages as chain_validate

    try:
        chain_validate(messages, codec.MAX_MSGS_PER_TX)
    except ABCIError as err:
        raise TxBuildError(err.log) from None


def sign(body: tx_pb2.TxBody, key: crypto.PrivateKey) -> codec.DecodedTx:
    """Sign ``body`` with ``key`` and return the transaction as the chain will decode it."""
    if body.signer != key.address:
        raise TxBuildError(f"body signer {body.signer} is not the key's address {key.address}")
    raw = codec.sign_tx(body, key)
    try:
        return codec.decode_tx(raw)
    except codec.TxDecodeError as exc:  # e.g. over the size limit
        raise TxBuildError(f"the signed transaction would be rejected: {exc}") from None


def body_to_json(body: tx_pb2.TxBody) -> dict[str, Any]:
    """The body as JSON for people and scripts (proto field names, uint64 as strings)."""
    return json_format.MessageToDict(body, preserving_proto_field_name=True)


# -- offline signing: unsigned and signed documents -------------------------------------------


def build_unsigned(
    signer: str,
    messages: Sequence[tx_pb2.Msg],
    *,
    chain_id: str | None,
    sequence: int | None,
    fee: Coin | None,
    timeout_height: int = 0,
    memo: str = "",
) -> tuple[tx_pb2.TxBody, list[str]]:
    """A body whose unknown envelope fields (None) are left for ``tx sign``; returns the
    body and the names of those fields. Runs every check ``build_body`` runs."""
    unset = [
        name
        for name, value in (("chain_id", chain_id), ("sequence", sequence), ("fee", fee))
        if value is None
    ]
    params = TxParams(
        chain_id or "unset",
        sequence or 0,
        fee if fee is not None else Coin("unset", 0),
        timeout_height,
        memo,
    )
    body = build_body(signer, messages, params)
    if chain_id is None:
        body.ClearField("chain_id")
    if fee is None:
        body.ClearField("fee")
    return body, unset


def unsigned_document(body: tx_pb2.TxBody, unset: Sequence[str] = ()) -> dict[str, Any]:
    """The ``--generate-only`` document (see the module docstring)."""
    return {
        "type": UNSIGNED_TYPE,
        "version": DOC_VERSION,
        "body": body_to_json(body),
        "unset": [name for name in FILLABLE if name in unset],
    }


def read_unsigned_document(doc: Any) -> tuple[tx_pb2.TxBody, list[str]]:
    """Body and unset fields of an unsigned document; raises TxFileError."""
    if not isinstance(doc, dict):
        raise TxFileError("not a transaction document: expected a JSON object")
    if doc.get("type") == SIGNED_TYPE:
        raise TxFileError("the transaction is already signed: broadcast it with mgrid tx broadcast")
    _check_type(doc, UNSIGNED_TYPE)
    unset = doc.get("unset", [])
    if not isinstance(unset, list) or any(name not in FILLABLE for name in unset):
        raise TxFileError(f"'unset' must be a list of {', '.join(FILLABLE)}")
    return _body_from_json(doc.get("body")), list(unset)


def signed_document(tx: codec.DecodedTx) -> dict[str, Any]:
    """The ``tx sign`` document of a signed transaction (see the module docstring)."""
    return {
        "type": SIGNED_TYPE,
        "version": DOC_VERSION,
        "body": body_to_json(tx.body),
        "body_bytes": base64.b64encode(tx.body_bytes).decode(),
        "pub_key": base64.b64encode(tx.pub_key).decode(),
        "signature": base64.b64encode(tx.signature).decode(),
        "txhash": tx.hash_hex,
    }


def read_signed_document(doc: Any) -> codec.DecodedTx:
    """The transaction of a signed document, checked as the chain will check it.

    Refuses a document whose signature does not verify, whose ``body`` was
    edited after signing, or whose ``txhash`` is not that of its bytes.
    """
    if not isinstance(doc, dict):
        raise TxFileError("not a transaction document: expected a JSON object")
    if doc.get("type") == UNSIGNED_TYPE:
        raise TxFileError(
            "the transaction is not signed yet: sign it with mgrid tx sign FILE --from NAME"
        )
    _check_type(doc, SIGNED_TYPE)
    parts = {}
    for field in ("body_bytes", "pub_key", "signature"):
        value = doc.get(field)
        try:
            if not isinstance(value, str):
                raise ValueError
            parts[field] = base64.b64decode(value, validate=True)
        except (ValueError, binascii.Error):
            raise TxFileError(f"field {field!r} is missing or not base64") from None
    tx = decode_signed(codec.assemble(parts["body_bytes"], parts["pub_key"], parts["signature"]))
    if "body" in doc and doc["body"] != body_to_json(tx.body):
        raise TxFileError(
            "the document's 'body' differs from the signed body_bytes: it was edited after "
            "signing; sign the transaction again"
        )
    txhash = doc.get("txhash")
    if txhash is not None and str(txhash).upper() != tx.hash_hex:
        raise TxFileError(f"txhash {txhash} is not the hash of the signed bytes ({tx.hash_hex})")
    return tx


def decode_signed(raw: bytes) -> codec.DecodedTx:
    """Decode a signed transaction and verify its signature as the chain will."""
    try:
        tx = codec.decode_tx(raw)
    except codec.TxDecodeError as exc:
        raise TxFileError(f"not a valid transaction: {exc}") from None
    if not crypto.verify(tx.pub_key, tx.body_bytes, tx.signature):
        raise TxFileError(
            "the signature does not verify over the body: the transaction was altered after signing"
        )
    if tx.body.signer != crypto.address_of(tx.pub_key):
        raise TxFileError(
            f"the body's signer {tx.body.signer} is not the address of the signing key "
            f"({crypto.address_of(tx.pub_key)})"
        )
    return tx


def _check_type(doc: dict[str, Any], expected: str) -> None:
    if doc.get("type") != expected:
        raise TxFileError(f"not an {expected} document (type {doc.get('type')!r})")
    if doc.get("version") != DOC_VERSION:
        raise TxFileError(
            f"{expected} document version {doc.get('version')!r}; this wallet reads {DOC_VERSION}"
        )


def _body_from_json(data: Any) -> tx_pb2.TxBody:
    if not isinstance(data, dict):
        raise TxFileError("'body' must be a JSON object (a TxBody)")
    body = tx_pb2.TxBody()
    try:
        json_format.ParseDict(data, body)
    except json_format.ParseError as exc:
        raise TxFileError(f"'body' is not a TxBody: {exc}") from None
    return body


# -- certificates ------------------------------------------------------------------------------


def msg_retire_certificates(
    denom: str, count: int, beneficiary: str, reason: str = ""
) -> tx_pb2.Msg:
    """The signer retires ``count`` certificates of ``denom`` (rec/... or ibc/<hash>)
    on behalf of ``beneficiary``: they are burned and the retirement recorded."""
    msg = tx_pb2.Msg()
    retire = msg.retire_certificates  # a certificates.v1.MsgRetire
    retire.denom = denom
    retire.count = count
    retire.beneficiary = beneficiary
    retire.reason = reason
    return msg


def msg_transfer_certificates(to_address: str, count: int, denom: str) -> tx_pb2.Msg:
    """``count`` certificates of ``denom`` to ``to_address``: a bank MsgSend (one coin
    is one certificate)."""
    return msg_send(to_address, [Coin(denom, count)])


# -- storage -----------------------------------------------------------------------------------


def msg_storage_deposit(storage: str, interval: int, wh: int) -> tx_pb2.Msg:
    """The signer commits to deliver ``wh`` into ``storage`` during ``interval``."""
    msg = tx_pb2.Msg()
    deposit = msg.storage_deposit  # a storage.v1.MsgDeposit
    deposit.storage, deposit.interval, deposit.wh = storage, interval, wh
    return msg


def msg_storage_redeem(storage: str, interval: int, wh: int) -> tx_pb2.Msg:
    """The signer locks ``wh`` of its credits on ``storage`` to take the energy back
    during ``interval``."""
    msg = tx_pb2.Msg()
    redeem = msg.storage_redeem  # a storage.v1.MsgRedeem
    redeem.storage, redeem.interval, redeem.wh = storage, interval, wh
    return msg


def msg_transfer_credits(storage: str, to: str, wh: int) -> tx_pb2.Msg:
    """``wh`` of the signer's spendable credits on ``storage`` to ``to``."""
    msg = tx_pb2.Msg()
    transfer = msg.transfer_credits  # a storage.v1.MsgTransferCredits
    transfer.storage, transfer.to, transfer.wh = storage, to, wh
    return msg
