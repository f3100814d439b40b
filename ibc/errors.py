"""Errors of IBC core (codespace "ibc"): clients, connections, channels, packets.

Registered once as (codespace, code, description) like every module's errors
(app.errors); codes are only ever added. Relayers key on them, so each says
what happened in a way an operator can act on. The light client's own
failures (ibc.client.errors.ClientError) reach a transaction as
ErrInvalidHeader, ErrInvalidMisbehaviour or ErrInvalidClient with the light
client's message as detail.
"""

from __future__ import annotations

from app.errors import ABCIError, register

CODESPACE = "ibc"


def _error(code: int, description: str, doc: str) -> type[ABCIError]:
    cls = register(CODESPACE, code, description)
    cls.__doc__ = doc
    return cls


ErrInvalidIdentifier = _error(
    2,
    "invalid identifier",
    "A client, connection, channel or port identifier breaks ICS-24 (length, characters).",
)
ErrClientNotFound = _error(3, "client not found", "No client with this identifier exists.")
ErrInvalidClient = _error(
    4,
    "invalid client state",
    "MsgCreateClient's client or consensus state is malformed or not acceptable.",
)
ErrClientFrozen = _error(
    5,
    "client is frozen",
    "The client saw misbehaviour; it accepts no update and verifies no proof any more.",
)
ErrClientExpired = _error(
    6,
    "client is expired",
    "The client's latest consensus state is older than its trusting period: "
    "it can no longer be updated and verifies no proof.",
)
ErrInvalidHeader = _error(
    7,
    "invalid header",
    "A MsgUpdateClient header did not verify (signatures, voting power, chain id, time...).",
)
ErrConsensusStateNotFound = _error(
    8,
    "consensus state not found",
    "The client has no consensus state at the height asked for (trusted height or proof height): "
    "update the client to that height first.",
)
ErrInvalidMisbehaviour = _error(
    9,
    "invalid misbehaviour",
    "The submitted evidence is not misbehaviour: a header does not verify or they do not conflict.",
)
ErrConnectionNotFound = _error(
    10, "connection not found", "No connection with this identifier exists."
)
ErrInvalidConnectionState = _error(
    11,
    "invalid connection state",
    "The connection is not in the state this handshake step or packet needs.",
)
ErrInvalidVersion = _error(
    12,
    "invalid connection version",
    "A connection version is unsupported or no common version could be negotiated.",
)
ErrInvalidProof = _error(
    13,
    "invalid proof",
    "A proof does not decode, or does not prove the expected value under the consensus "
    "state's root at the proof height.",
)
ErrChannelNotFound = _error(14, "channel not found", "No channel end at this port and channel.")
ErrInvalidChannelState = _error(
    15,
    "invalid channel state",
    "The channel is not in the state this handshake step or packet needs.",
)
ErrInvalidChannel = _error(
    16,
    "invalid channel",
    "A channel's fields are unacceptable (ordering, connection hops, counterparty).",
)
ErrPortNotFound = _error(
    17, "port not bound", "No application is bound to this port on this chain."
)
ErrInvalidPacket = _error(
    18,
    "invalid packet",
    "A packet is malformed, does not match its channel, or does not match the stored commitment.",
)
ErrPacketTimeout = _error(
    19,
    "packet timeout",
    "The packet's timeout has passed (receiving), or would already have passed (sending).",
)
ErrTimeoutNotReached = _error(
    20,
    "packet timeout not reached",
    "A timeout was submitted for a packet whose timeout height and timestamp have not passed "
    "on the counterparty at the proof height.",
)
ErrPacketNotSent = _error(
    21,
    "packet never sent",
    "An acknowledgement or timeout names a sequence this channel never sent.",
)
ErrPacketSequenceOutOfOrder = _error(
    22,
    "packet sequence out of order",
    "On an ordered channel, the packet's sequence is not the next one expected.",
)
ErrAcknowledgementExists = _error(
    23,
    "acknowledgement already written",
    "An acknowledgement was already written for this packet; each packet has one.",
)
ErrInvalidAcknowledgement = _error(
    24,
    "invalid acknowledgement",
    "The acknowledgement does not decode or is empty (no result, or a blank error).",
)
ErrInvalidDelayPeriod = _error(
    25, "invalid delay period", "Only connections with delay period 0 are supported."
)
ErrInvalidCounterparty = _error(
    26,
    "invalid counterparty",
    "The counterparty of a connection or channel is malformed (identifiers, store prefix).",
)
ErrPacketReceived = _error(
    27,
    "packet already received",
    "A timeout was submitted for a packet that the counterparty has received.",
)
ErrInvalidHeight = _error(
    28,
    "invalid height",
    "A height is zero or above the client's latest height.",
)
