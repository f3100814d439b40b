"""Transaction building in the wallet: what it signs is what the chain decodes."""

from __future__ import annotations

import pytest

from app import crypto
from app.coins import Coin
from app.tx import codec
from clients.mgrid import tx as txmod

KEY = crypto.PrivateKey(bytes(range(32)))
TO = crypto.PrivateKey(bytes(32)).address
PARAMS = txmod.TxParams("mgrid-test-1", 3, Coin("ugrid", 10), timeout_height=100, memo="hi")


def test_signed_send_decodes_and_verifies() -> None:
    body = txmod.build_body(KEY.address, [txmod.msg_send(TO, [Coin("ugrid", 1000)])], PARAMS)
    signed = txmod.sign(body, KEY)
    decoded = codec.decode_tx(signed.raw)
    assert decoded.hash_hex == signed.hash_hex
    assert crypto.verify(decoded.pub_key, decoded.body_bytes, decoded.signature)
    assert decoded.pub_key == KEY.public_key
    b = decoded.body
    assert (b.chain_id, b.signer, b.sequence, b.timeout_height, b.memo) == (
        "mgrid-test-1",
        KEY.address,
        3,
        100,
        "hi",
    )
    assert (b.fee.denom, b.fee.amount) == ("ugrid", "10")
    (msg,) = b.messages
    assert msg.send.to_address == TO
    assert [(c.denom, c.amount) for c in msg.send.amount] == [("ugrid", "1000")]


def test_sign_refuses_a_key_that_is_not_the_signer() -> None:
    body = txmod.build_body(KEY.address, [txmod.msg_send(TO, [Coin("ugrid", 1)])], PARAMS)
    with pytest.raises(txmod.TxBuildError, match="not the key's address"):
        txmod.sign(body, crypto.PrivateKey(bytes(32)))


def _send(**changes: object) -> None:
    params = txmod.TxParams(
        **{
            "chain_id": "c",
            "sequence": 0,
            "fee": Coin("ugrid", 0),
            "timeout_height": 0,
            "memo": "",
            **changes,
        }  # type: ignore[arg-type]
    )
    txmod.build_body(KEY.address, [txmod.msg_send(TO, [Coin("ugrid", 1)])], params)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"chain_id": ""}, "chain id"),
        ({"sequence": -1}, "sequence"),
        ({"sequence": 2**64}, "sequence"),
        ({"timeout_height": 2**64}, "timeout height"),
        ({"memo": "m" * (codec.MAX_MEMO_CHARS + 1)}, "memo"),
    ],
)
def test_envelope_checks(changes: dict[str, object], match: str) -> None:
    with pytest.raises(txmod.TxBuildError, match=match):
        _send(**changes)


@pytest.mark.parametrize(
    ("to", "amount", "match"),
    [
        ("mg1notanaddress", [Coin("ugrid", 1)], "to_address"),
        (TO, [Coin("ugrid", 0)], "must be positive"),
        (TO, [Coin("ugrid", 1), Coin("ugrid", 2)], "twice"),
        (TO, [], "no coins"),
    ],
)
def test_message_checks_are_the_chains(to: str, amount: list[Coin], match: str) -> None:
    with pytest.raises(txmod.TxBuildError, match=match):
        txmod.build_body(KEY.address, [txmod.msg_send(to, amount)], PARAMS)


def test_no_messages() -> None:
    with pytest.raises(txmod.TxBuildError, match="messages"):
        txmod.build_body(KEY.address, [], PARAMS)


def test_body_to_json() -> None:
    body = txmod.build_body(KEY.address, [txmod.msg_send(TO, [Coin("ugrid", 5)])], PARAMS)
    doc = txmod.body_to_json(body)
    assert doc["signer"] == KEY.address and doc["sequence"] == "3"
    assert doc["messages"] == [
        {"send": {"to_address": TO, "amount": [{"denom": "ugrid", "amount": "5"}]}}
    ]
