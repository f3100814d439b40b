"""Building signed transactions for tests, through the same codec the wallet uses."""

from __future__ import annotations

from app.crypto import PrivateKey
from app.pb.mgrid.base.v1 import coin_pb2
from app.pb.mgrid.tx.v1 import tx_pb2
from app.tx import codec

CHAIN_ID = "test-chain"
DENOM = "ugrid"


def key(n: int) -> PrivateKey:
    """A deterministic test key."""
    return PrivateKey(bytes([n]) * 32)


def send_body(
    sender: PrivateKey,
    to: str,
    amount: int | str,
    *,
    sequence: int,
    chain_id: str = CHAIN_ID,
    denom: str = DENOM,
    fee: int = 0,
    timeout_height: int = 0,
    memo: str = "",
) -> tx_pb2.TxBody:
    body = tx_pb2.TxBody(
        chain_id=chain_id,
        signer=sender.address,
        sequence=sequence,
        timeout_height=timeout_height,
        memo=memo,
    )
    if fee:
        body.fee.CopyFrom(coin_pb2.Coin(denom=DENOM, amount=str(fee)))
    msg = body.messages.add()
    msg.send.to_address = to
    msg.send.amount.add(denom=denom, amount=str(amount))
    return body


def send_tx(sender: PrivateKey, to: str, amount: int | str, **kw: object) -> bytes:
    return codec.sign_tx(send_body(sender, to, amount, **kw), sender)  # type: ignore[arg-type]
