"""ICS-24 host requirements: identifiers, paths and store keys.

Every IBC core value this chain commits to lives in the authenticated store
under ``STORE_PREFIX + b"/" + path`` (``key(path)``), with the paths of
ICS-24 exactly as ibc-go lays them out, so that a relayer proves them with
``/store/key`` and a counterparty checks the proof against this chain's app
hash. Identifiers follow ICS-24: ASCII letters, digits and ``._+-#[]<>``,
with the lengths ibc-go enforces (client 9-64, connection 10-64, channel
8-64, port 2-128). This chain's own identifiers come from counters in state:
``07-tendermint-{n}``, ``connection-{n}``, ``channel-{n}``.

Values (written by the client, connection and channel keepers):
    clients/{client}/clientState                      ClientState (protobuf)
    clients/{client}/consensusStates/0-{h}            ConsensusState (protobuf)
    connections/{connection}                          ConnectionEnd (protobuf)
    channelEnds/ports/{port}/channels/{channel}       Channel (protobuf)
    nextSequenceSend|Recv|Ack/ports/{p}/channels/{c}  8-byte big-endian
    commitments/ports/{p}/channels/{c}/sequences/{n}  packet_commitment(...)
    receipts/ports/{p}/channels/{c}/sequences/{n}     b"\\x01"
    acks/ports/{p}/channels/{c}/sequences/{n}         ack_commitment(...)
Bookkeeping that is not an ICS-24 path but lives beside it (as in ibc-go):
    nextClientSequence, nextConnectionSequence, nextChannelSequence  8-byte BE
    clients/{client}/iterateConsensusStates + height(8 BE)  -> decimal height
"""

from __future__ import annotations

import hashlib
import re

from ibc.errors import ErrInvalidIdentifier

STORE_PREFIX = b"ibc"
"""This chain's commitment prefix (the counterparty's view of our store)."""

CLIENT_TYPE = "07-tendermint"

_ID_RE = re.compile(r"[a-zA-Z0-9._+\-#\[\]<>]+", re.ASCII)
CLIENT_ID_LEN = (9, 64)
CONNECTION_ID_LEN = (10, 64)
CHANNEL_ID_LEN = (8, 64)
PORT_ID_LEN = (2, 128)


# --- identifiers ---------------------------------------------------------------


def _validate(kind: str, value: str, bounds: tuple[int, int]) -> None:
    low, high = bounds
    if not isinstance(value, str) or not value.strip():
        raise ErrInvalidIdentifier(f"{kind} identifier is blank")
    if "/" in value:
        raise ErrInvalidIdentifier(f"{kind} identifier {value!r} contains the separator '/'")
    if not low <= len(value) <= high:
        raise ErrInvalidIdentifier(
            f"{kind} identifier {value[:70]!r} has length {len(value)}, must be {low}..{high}"
        )
    if not _ID_RE.fullmatch(value):
        raise ErrInvalidIdentifier(
            f"{kind} identifier {value!r} may contain only letters, digits and ._+-#[]<>"
        )


def validate_client_id(value: str) -> None:
    _validate("client", value, CLIENT_ID_LEN)


def validate_connection_id(value: str) -> None:
    _validate("connection", value, CONNECTION_ID_LEN)


def validate_channel_id(value: str) -> None:
    _validate("channel", value, CHANNEL_ID_LEN)


def validate_port_id(value: str) -> None:
    _validate("port", value, PORT_ID_LEN)


def _parse_numbered(kind: str, value: str, stem: str) -> int:
    if not value.startswith(stem + "-"):
        raise ErrInvalidIdentifier(f"{kind} identifier {value!r} is not {stem}-<n>")
    digits = value[len(stem) + 1 :]
    if not digits.isascii() or not digits.isdigit() or (len(digits) > 1 and digits[0] == "0"):
        raise ErrInvalidIdentifier(f"{kind} identifier {value!r}: {digits!r} is not a number")
    if len(digits) > 20:
        raise ErrInvalidIdentifier(f"{kind} identifier {value!r}: number too large")
    return int(digits)


def parse_client_id(value: str) -> tuple[str, int]:
    """(client type, sequence) of a ``{type}-{n}`` client identifier."""
    validate_client_id(value)
    client_type, sep, _ = value.rpartition("-")
    if not sep or not client_type:
        raise ErrInvalidIdentifier(f"client identifier {value!r} is not <type>-<n>")
    return client_type, _parse_numbered("client", value, client_type)


def parse_connection_id(value: str) -> int:
    validate_connection_id(value)
    return _parse_numbered("connection", value, "connection")


def parse_channel_id(value: str) -> int:
    validate_channel_id(value)
    return _parse_numbered("channel", value, "channel")


def client_id(n: int) -> str:
    return f"{CLIENT_TYPE}-{n}"


def connection_id(n: int) -> str:
    return f"connection-{n}"


def channel_id(n: int) -> str:
    return f"channel-{n}"


# --- paths (ICS-24) --------------------------------------------------------------


def client_state_path(client: str) -> str:
    return f"clients/{client}/clientState"


def consensus_state_path(client: str, height: int) -> str:
    return f"clients/{client}/consensusStates/0-{height}"


def connection_path(connection: str) -> str:
    return f"connections/{connection}"


def channel_path(port: str, channel: str) -> str:
    return f"channelEnds/ports/{port}/channels/{channel}"


def next_sequence_send_path(port: str, channel: str) -> str:
    return f"nextSequenceSend/ports/{port}/channels/{channel}"


def next_sequence_recv_path(port: str, channel: str) -> str:
    return f"nextSequenceRecv/ports/{port}/channels/{channel}"


def next_sequence_ack_path(port: str, channel: str) -> str:
    return f"nextSequenceAck/ports/{port}/channels/{channel}"


def packet_commitment_prefix(port: str, channel: str) -> str:
    return f"commitments/ports/{port}/channels/{channel}/sequences/"


def packet_commitment_path(port: str, channel: str, sequence: int) -> str:
    return f"{packet_commitment_prefix(port, channel)}{sequence}"


def packet_receipt_path(port: str, channel: str, sequence: int) -> str:
    return f"receipts/ports/{port}/channels/{channel}/sequences/{sequence}"


def packet_ack_prefix(port: str, channel: str) -> str:
    return f"acks/ports/{port}/channels/{channel}/sequences/"


def packet_ack_path(port: str, channel: str, sequence: int) -> str:
    return f"{packet_ack_prefix(port, channel)}{sequence}"


CHANNEL_ENDS_PREFIX = "channelEnds/ports/"
NEXT_CLIENT_SEQUENCE = "nextClientSequence"
NEXT_CONNECTION_SEQUENCE = "nextConnectionSequence"
NEXT_CHANNEL_SEQUENCE = "nextChannelSequence"


def consensus_heights_prefix(client: str) -> bytes:
    """Key prefix of a client's consensus heights in ascending order (8-byte BE suffix)."""
    return key(f"clients/{client}/iterateConsensusStates")


def consensus_height_key(client: str, height: int) -> bytes:
    return consensus_heights_prefix(client) + u64(height)


# --- store keys and values ----------------------------------------------------------


def key(path: str) -> bytes:
    """This chain's store key of an ICS-24 path."""
    return STORE_PREFIX + b"/" + path.encode()


def counterparty_key(prefix: bytes, path: str) -> bytes:
    """The counterparty's store key of ``path`` under its commitment ``prefix``."""
    return prefix + b"/" + path.encode()


def u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


def packet_commitment(timeout_timestamp: int, timeout_height: int, data: bytes) -> bytes:
    """ICS-04 packet commitment as ibc-go computes it (revision number 0):
    sha256(timeout_timestamp || 0 || timeout_height || sha256(data)), each 8 bytes BE."""
    preimage = u64(timeout_timestamp) + u64(0) + u64(timeout_height) + hashlib.sha256(data).digest()
    return hashlib.sha256(preimage).digest()


def ack_commitment(ack_bytes: bytes) -> bytes:
    return hashlib.sha256(ack_bytes).digest()


RECEIPT = b"\x01"
