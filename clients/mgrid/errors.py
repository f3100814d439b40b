"""Chain error codes as messages a person can act on (issue 5, item 4).

The chain answers a refused transaction or query with ``(codespace, code,
log)``: codes are registered once per module (app/errors.py and each
module's keeper) and only ever added, so the wallet can key on them. The
log says what was found ("mg1... has 120ugrid, needs 1500ugrid"); this
module turns it into what to do about it::

    explain("bank", 2, "insufficient funds: mg1xyz has 120ugrid, needs 1500ugrid")
    -> "insufficient funds: balance 120ugrid, needed 1500ugrid (mg1xyz); ..."

``explain`` returns None for codes it does not know, and the caller shows
the chain's log as it is. The chain's own codespace, code and log are
always shown next to the explanation (and kept in JSON output), so nothing
the chain said is hidden.
"""

from __future__ import annotations

import re
from collections.abc import Callable

Explainer = Callable[[str], str]

_FUNDS = re.compile(r"(?P<who>\S+) has (?P<have>\S+), needs (?P<need>\S+)")
_SEQUENCE = re.compile(r"expects sequence (?P<want>\d+), tx has (?P<got>\d+)")
_CHAIN = re.compile(
    r"tx is for chain (?P<got>'[^']*'|\"[^\"]*\"), this is (?P<want>'[^']*'|\"[^\"]*\")"
)
_MIN_FEE = re.compile(r"below the minimum (?P<min>\S+)")
_FEE_DENOM = re.compile(r"fee must be paid in (?P<denom>\S+),")
_TIMEOUT = re.compile(r"block height (?P<height>\d+) > timeout height (?P<timeout>\d+)")
_HEIGHT = re.compile(r"height (?P<height>\d+) is not committed \(latest (?P<latest>\d+)\)")
_PRUNED = re.compile(r"height (?P<height>\d+) was pruned \(available (?P<range>\S+)\)")
_EARLIEST_OPEN = re.compile(r"the earliest open interval is (?P<n>\d+)")
_METER_SEQ = re.compile(r"sequence (?P<got>\d+) is not above (?P<last>\d+)")


def explain(codespace: str, code: int, log: str) -> str | None:
    """An actionable message for the chain's ``(codespace, code)``, or None if unknown."""
    explainer = EXPLAINERS.get((codespace, code))
    return explainer(log) if explainer is not None else None


def _funds(log: str, what: str, then: str) -> str:
    m = _FUNDS.search(log)
    if m is None:
        return f"{what} ({log}); {then}"
    return f"{what}: balance {m['have']}, needed {m['need']} ({m['who']}); {then}"


def _insufficient_funds(log: str) -> str:
    return _funds(
        log,
        "insufficient funds",
        "send it coins first (mgrid tx bank send) or ask for less; "
        "`mgrid query bank balances ADDR` shows what it holds",
    )


def _insufficient_fee(log: str) -> str:
    if "cannot pay fee" in log:
        return _funds(
            log,
            "cannot pay the fee",
            "the account needs coins before it can send anything (mgrid tx bank send)",
        )
    if (m := _MIN_FEE.search(log)) is not None:
        return (
            f"fee too low: the chain's minimum is {m['min']}; pass --fees {m['min']} "
            "or leave --fees out to pay the minimum"
        )
    if (m := _FEE_DENOM.search(log)) is not None:
        return f"the fee must be paid in {m['denom']}, e.g. --fees 10{m['denom']}"
    return f"fee refused ({log}); `mgrid query bank params` shows the minimum fee"


def _sequence(log: str) -> str:
    m = _SEQUENCE.search(log)
    if m is None:
        return f"sequence mismatch ({log}); sign again without --sequence to use the chain's"
    return (
        f"sequence mismatch: the chain expects {m['want']}, the transaction was signed with "
        f"{m['got']} (another transaction of this account got in first, or --sequence is "
        f"wrong); sign again with --sequence {m['want']}, or without --sequence to ask the chain"
    )


def _wrong_chain(log: str) -> str:
    m = _CHAIN.search(log)
    if m is None:
        return f"wrong chain id ({log}); sign again with this node's chain id (mgrid status)"
    want = m["want"].strip("'\"")
    return (
        f"the transaction was signed for chain {m['got']}, but this node runs {m['want']}: "
        f"sign it again with --chain-id {want} (or without --chain-id to ask the node)"
    )


def _unauthorized_tx(log: str) -> str:
    if "signature does not verify" in log:
        return (
            "the signature does not match the transaction: it was changed after signing, "
            "or signed with another key; sign it again"
        )
    return f"the signer field is not the signing key's address ({log}); sign it again"


def _timeout(log: str) -> str:
    m = _TIMEOUT.search(log)
    at = f" (block {m['height']} > {m['timeout']})" if m else ""
    return (
        f"the chain is past the transaction's --timeout-height{at}: sign it again with a "
        "later --timeout-height, or 0 for none"
    )


def _height(log: str) -> str:
    if (m := _HEIGHT.search(log)) is not None:
        return (
            f"height {m['height']} is not committed yet: the latest is {m['latest']} "
            "(--height 0 asks for the latest state)"
        )
    if (m := _PRUNED.search(log)) is not None:
        return (
            f"height {m['height']} was pruned on this node, which keeps heights {m['range']}: "
            "ask an archive node (--node) or a later height"
        )
    return f"that height is not available on this node ({log}); `mgrid status` shows the latest"


def _closed(log: str) -> str:
    m = _EARLIEST_OPEN.search(log)
    first = f" (the earliest open one is {m['n']})" if m else ""
    return (
        f"the interval's gate has closed{first}: use --interval next, or see "
        "`mgrid query market schedule`"
    )


def _meter_sequence(log: str) -> str:
    m = _METER_SEQ.search(log)
    if m is None:
        return f"meter sequence too low ({log}); pass a higher --meter-sequence"
    return (
        f"the meter's sequence {m['got']} is not above its last reading's {m['last']}: "
        f"pass --meter-sequence {int(m['last']) + 1} or higher"
    )


def _with(hint: str) -> Explainer:
    """An explainer that keeps the chain's log and adds ``hint``."""
    return lambda log: f"{log}; {hint}"


_PARTICIPANT_FIRST = _with(
    "apply first (mgrid tx registry apply) and wait for the utility cell's approval"
)
_APPROVAL_FIRST = _with(
    "the utility cell must approve the application first "
    "(`mgrid query registry participant ADDR` shows the status)"
)
_AREA = _with(
    "only participants on the named bus or below it take part; "
    "`mgrid query registry network` shows the buses"
)
_QUOTA_TIMES = _with(
    "demands close at allocation_time, quota orders run from it to trading_close_time: "
    "`mgrid query quota margin ID` shows both"
)

EXPLAINERS: dict[tuple[str, int], Explainer] = {
    # envelope (app/errors.py, checked by the ante handler in app/chain.py)
    ("tx", 2): _with("the node could not decode the transaction: was the file edited?"),
    ("tx", 3): _sequence,
    ("tx", 4): _unauthorized_tx,
    ("tx", 5): _insufficient_fee,
    ("tx", 6): _wrong_chain,
    ("tx", 7): _with("split the messages over several transactions"),
    ("tx", 8): _timeout,
    ("tx", 10): _with("this node does not know the message: is it running an older mgridd?"),
    ("tx", 11): _with("shorten --memo"),
    ("tx", 14): _with("this node does not serve that query: is it running an older mgridd?"),
    ("tx", 15): _with("check the id, address or key asked for"),
    ("tx", 16): _height,
    # bank
    ("bank", 2): _insufficient_funds,
    ("bank", 3): _with("`mgrid query bank params` shows the chain's denom"),
    # registry
    ("registry", 2): _with(
        "only the utility cell (or, for suspensions, the regulator) may do this: "
        "`mgrid query registry authorities` shows them; sign with --from their key"
    ),
    ("registry", 3): _with(
        "the address has not applied: mgrid tx registry apply --role ROLE --bus BUS --from KEY"
    ),
    ("registry", 4): _with("`mgrid query registry participant ADDR` shows its record"),
    ("registry", 5): _with(
        "the participant's status does not allow this: "
        "`mgrid query registry participant ADDR` shows it"
    ),
    ("registry", 6): _with("`mgrid query registry network` lists the buses"),
    ("registry", 8): _with("`mgrid query registry meter PUBKEY` shows whose meter it is"),
    ("registry", 9): _with("`mgrid query registry meters ADDR` lists a participant's meters"),
    # market
    ("market", 3): _PARTICIPANT_FIRST,
    ("market", 4): _APPROVAL_FIRST,
    ("market", 5): _closed,
    ("market", 6): _with("see max_intervals_ahead in `mgrid query market params`"),
    ("market", 7): _with("order sizes are bounded by min_order_wh and max_order_wh"),
    ("market", 8): _with("`mgrid query market params` shows the price bounds"),
    ("market", 10): _with(
        "cancel one first: `mgrid query market orders --owner ADDR --open` lists them"
    ),
    ("market", 11): _with("`mgrid query market orders --owner ADDR` lists the orders"),
    ("market", 12): _with("only the key that placed an order can cancel it"),
    ("market", 13): _with("the order was already cancelled, matched or expired"),
    ("market", 14): _with("`mgrid query market params` shows the regulator's bounds"),
    ("market", 16): lambda log: _funds(
        log,
        "insufficient funds to lock for the order",
        "a buy locks quantity x price, a sell locks collateral; fund the account or ask for less",
    ),
    # settlement
    ("settlement", 5): _with(
        "register the meter first: mgrid tx registry register-meter ADDR --meter-key NAME"
    ),
    ("settlement", 6): _with("the meter was revoked; register a new one"),
    ("settlement", 7): _with(
        "leave --participant out to use the participant the meter is registered to"
    ),
    ("settlement", 8): _with(
        "readings are taken only in the interval's settlement window; "
        "`mgrid query settlement interval N` shows window_end"
    ),
    ("settlement", 9): _with("each meter reports an interval once"),
    ("settlement", 10): _meter_sequence,
    ("settlement", 12): _with("sign the reading with this chain's --chain-id"),
    ("settlement", 13): _with(
        "one commitment per interval across demand response and flexibility: "
        "`mgrid query dr opt-ins ADDR` and `mgrid query flex offers ADDR` show it"
    ),
    # grid services (docs/grid-services.md)
    ("demand_response", 6): lambda log: _funds(
        log, "insufficient funds to lock", "an event locks its rewards, an opt-in its collateral"
    ),
    ("demand_response", 7): _with("`mgrid query dr events` lists the events"),
    ("demand_response", 8): _with(
        "opt-ins close at the event's gate; `mgrid query dr events` lists open ones"
    ),
    ("demand_response", 9): _PARTICIPANT_FIRST,
    ("demand_response", 10): _APPROVAL_FIRST,
    ("demand_response", 11): _AREA,
    ("demand_response", 14): _with("`mgrid query dr event ID` shows what is committed so far"),
    ("flexibility", 5): _with("`mgrid query flex needs` lists the needs"),
    ("flexibility", 6): _with(
        "offers close at the need's gate; `mgrid query flex needs` lists open ones"
    ),
    ("flexibility", 7): _with("offer at or below the need's max_price_per_kwh"),
    ("flexibility", 8): _PARTICIPANT_FIRST,
    ("flexibility", 9): _APPROVAL_FIRST,
    ("flexibility", 10): _AREA,
    ("flexibility", 12): lambda log: _funds(
        log,
        "insufficient funds to lock",
        "a need locks quantity x max price, an offer its collateral",
    ),
    ("quota", 2): _with("`mgrid query quota margins` lists the margins"),
    ("quota", 6): _QUOTA_TIMES,
    ("quota", 7): _QUOTA_TIMES,
    ("quota", 8): _PARTICIPANT_FIRST,
    ("quota", 9): _APPROVAL_FIRST,
    ("quota", 10): _AREA,
    ("quota", 13): _with("submit a demand before the allocation: mgrid tx quota demand ID"),
    ("quota", 17): _with(
        "a station sells only its initial quota not already offered: "
        "`mgrid query quota station ID ADDR`"
    ),
    ("quota", 18): lambda log: _funds(
        log, "insufficient funds to lock", "a buy locks quantity x price"
    ),
    ("quota", 19): _QUOTA_TIMES,
    # reputation
    ("reputation", 3): _with("`mgrid query reputation score ADDR` shows the suspension"),
    # ibc core (ibc/errors.py): mostly what a relayer meets; a wallet user meets
    # the channel and timeout ones when sending a packet
    ("ibc", 2): _with("identifiers look like 07-tendermint-0, connection-0, channel-0"),
    ("ibc", 3): _with("`mgrid query ibc clients` lists the clients"),
    ("ibc", 5): _with(
        "the client saw misbehaviour of the other chain and is frozen: nothing crosses this "
        "path any more; operators must create a new client, connection and channel"
    ),
    ("ibc", 6): _with(
        "the light client was not updated within its trusting period and has expired: "
        "operators must create a new client (mgrid-relayer link); a running relayer "
        "refreshes clients before this happens"
    ),
    ("ibc", 8): _with("update the client to that height first (the relayer does this)"),
    ("ibc", 10): _with("`mgrid query ibc connections` lists the connections"),
    ("ibc", 11): _with(
        "the connection is not open: `mgrid query ibc connections` shows its state "
        "(mgrid-relayer link finishes the handshake)"
    ),
    ("ibc", 14): _with("`mgrid query ibc channels` lists the channels and their ports"),
    ("ibc", 15): _with(
        "the channel is not open (or closed): `mgrid query ibc channels` shows its state"
    ),
    ("ibc", 17): _with("no application on that port: the ports are transfer and energy"),
    ("ibc", 19): _with(
        "the timeout is already past on the other chain: give a later --timeout-seconds "
        "(or --packet-timeout-height above the other chain's height)"
    ),
    ("ibc", 21): _with("the sequence was never sent on this channel"),
    ("ibc", 27): _with("the other chain received the packet: it is acknowledged, not timed out"),
    # ICS-20 transfer (ibc/apps/transfer/errors.py)
    ("transfer", 2): _with("give --timeout-seconds S or --packet-timeout-height H"),
    ("transfer", 3): _with(
        "send a native denom or a voucher this chain knows: "
        "`mgrid query transfer denom-traces` lists the vouchers"
    ),
    ("transfer", 5): _with("the amount must be a positive whole number of the smallest unit"),
    ("transfer", 6): _with("`mgrid query transfer denom-traces` lists the vouchers received here"),
    ("transfer", 7): _with("RECEIVER must be an address of the chain at the other end"),
    ("transfer", 10): _with("ICS-20 channels stay open for good"),
    ("transfer", 11): _with("transfers go over the transfer port: --port transfer"),
    ("transfer", 12): _with("shorten --packet-memo (or the receiver)"),
    # inter-microgrid energy trades (ibc/apps/energy/errors.py)
    ("energy", 5): _with(
        "check --side, --quantity, --price, the interval and the timeout "
        "(mgrid tx energy offer --help)"
    ),
    ("energy", 6): _with(
        "a BUY pays with vouchers of the receiver's denom that came over this energy channel: "
        "`mgrid query transfer denom-traces` shows energy/<channel>/<denom> and its ibc/ denom"
    ),
    ("energy", 7): _with(
        "give --denom as the other chain's market denom (its `mgrid query bank params`), or "
        "--counterparty-node to ask it"
    ),
    ("energy", 8): _with(
        "--delivery-start must be the start of one of the other chain's intervals: use "
        "--counterparty-node URL --interval next to look it up"
    ),
    ("energy", 9): _with(
        "wait for the channel's open offers to clear: `mgrid query energy trades --channel C`"
    ),
    ("energy", 10): _with(
        "the vouchers spent are not backed on the other chain: offer a smaller --max-payment"
    ),
    ("energy", 11): _with(
        "`mgrid query energy trades` lists the trades (add --outgoing for one this chain offered)"
    ),
    ("energy", 13): _with("energy offers go over a channel of the energy port"),
    ("energy", 14): _with("the receiving chain runs no market"),
}

# renewable energy certificates (app/modules/certificates/keeper.py, docs/certificates.md)
EXPLAINERS.update(
    {
        ("certificates", 3): _with(
            "a certificate denom is rec/<technology>/<generator>/<start>-<end> or the ibc/<hash> "
            "voucher of one: `mgrid query certificates holdings ADDR` lists the ones held"
        ),
        ("certificates", 4): _with("retire or send at least 1 certificate"),
        ("certificates", 5): _with(
            "name the beneficiary in 1..128 printable characters, e.g. --beneficiary 'household 12'"
        ),
        ("certificates", 6): _with("keep --reason to 256 printable characters"),
        ("certificates", 7): _with(
            "this chain has received no such voucher: `mgrid query certificates holdings ADDR` "
            "shows the ibc/ denoms held here"
        ),
        ("certificates", 8): _with(
            "certificates need a microgrid with a market; this chain has none"
        ),
    }
)

# storage-backed energy credits (app/modules/storage/keeper.py, docs/storage.md)
_STORAGE_STATE = "`mgrid query storage state STORAGE` shows what it holds, reserves and locks"
EXPLAINERS.update(
    {
        ("storage", 2): _with(
            "name a participant registered with role storage: "
            "`mgrid query storage list` lists those that took deposits"
        ),
        ("storage", 3): _APPROVAL_FIRST,
        ("storage", 4): _PARTICIPANT_FIRST,
        ("storage", 5): _APPROVAL_FIRST,
        ("storage", 6): _with(
            "deliveries into and out of storage are metered: the utility cell registers a "
            "meter first (mgrid tx registry register-meter)"
        ),
        ("storage", 7): _with("a storage's own energy is traded in the market, not deposited"),
        ("storage", 8): _with(
            "give at least 1 Wh, and for a deposit enough to mint a credit after efficiency"
        ),
        ("storage", 9): _with(
            "the storage's charging power limits what it takes in one interval: deposit less "
            "or in another interval (`mgrid query storage deposits STORAGE --interval N`)"
        ),
        ("storage", 10): _with(_STORAGE_STATE),
        ("storage", 11): _with(
            "the storage's discharging power limits what it gives back in one interval: "
            "redeem less or in another interval"
        ),
        ("storage", 12): _with(
            "credits locked by pending redemptions cannot be spent: "
            "`mgrid query storage credits ADDR` shows spendable and locked"
        ),
        ("storage", 13): _with("send the credits to another account"),
    }
)
