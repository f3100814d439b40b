"""A small client of CometBFT's JSON-RPC over HTTP (the /status, /abci_query,
/broadcast_tx_*, /tx, /block, /block_results and /validators endpoints),
shared by the wallet, the localnet tooling and the tests."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

DEFAULT_NODE = "http://127.0.0.1:26657"


class RPCError(Exception):
    """The node answered with a JSON-RPC error."""


class NodeUnreachable(RPCError):
    """No node answered at the address."""


class RPC:
    def __init__(self, node: str = DEFAULT_NODE, timeout: float = 10.0):
        if node.startswith("tcp://"):
            node = "http://" + node[len("tcp://") :]
        self.node = node.rstrip("/")
        self.timeout = timeout

    def call(self, method: str, **params: Any) -> Any:
        """POST a JSON-RPC request and return its ``result``."""
        payload = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        req = urllib.request.Request(
            self.node, data=payload.encode(), headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                body = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            try:
                body = json.loads(exc.read())
            except ValueError:
                raise RPCError(f"{method}: HTTP {exc.code} from {self.node}") from None
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
            raise NodeUnreachable(f"no node at {self.node} ({exc})") from None
        if body.get("error"):
            err = body["error"]
            raise RPCError(f"{method}: {err.get('message', '')} {err.get('data', '')}".strip())
        return body["result"]

    def status(self) -> dict[str, Any]:
        return self.call("status")

    def latest_height(self) -> int:
        return int(self.status()["sync_info"]["latest_block_height"])

    def chain_id(self) -> str:
        return str(self.status()["node_info"]["network"])

    def block(self, height: int | None = None) -> dict[str, Any]:
        return self.call("block", **({"height": str(height)} if height else {}))

    def abci_query(
        self, path: str, data: bytes = b"", height: int = 0, prove: bool = False
    ) -> dict[str, Any]:
        """Run an ABCI query; returns the ``response`` object with value/proof decoded to bytes."""
        result = self.call(
            "abci_query", path=path, data=data.hex(), height=str(height), prove=prove
        )
        response = result["response"]
        response["value"] = base64.b64decode(response.get("value") or "")
        response["key"] = base64.b64decode(response.get("key") or "")
        return response

    def broadcast_tx_sync(self, tx: bytes) -> dict[str, Any]:
        return self.call("broadcast_tx_sync", tx=base64.b64encode(tx).decode())

    def broadcast_tx_commit(self, tx: bytes) -> dict[str, Any]:
        return self.call("broadcast_tx_commit", tx=base64.b64encode(tx).decode())

    def tx(self, tx_hash_hex: str) -> dict[str, Any]:
        return self.call("tx", hash=base64.b64encode(bytes.fromhex(tx_hash_hex)).decode())

    def block_results(self, height: int) -> dict[str, Any]:
        """The results of block ``height``'s transactions (``txs_results``) and its events."""
        result: dict[str, Any] = self.call("block_results", height=str(height))
        return result

    def validators(
        self, height: int | None = None, page: int = 1, per_page: int = 100
    ) -> dict[str, Any]:
        """One page of the validator set (latest, or at ``height``); ``total`` counts all."""
        params = {"page": str(page), "per_page": str(per_page)}
        if height:
            params["height"] = str(height)
        return self.call("validators", **params)

    # -- for the IBC relayer: light-client headers and block events ----------------------

    def commit(self, height: int | None = None) -> dict[str, Any]:
        """The signed header of block ``height`` (default: latest): ``{signed_header,
        canonical}``; ``signed_header`` holds ``header`` and ``commit``."""
        result: dict[str, Any] = self.call("commit", **({"height": str(height)} if height else {}))
        return result

    def all_validators(
        self, height: int | None = None, per_page: int = 100
    ) -> list[dict[str, Any]]:
        """Every validator of the set at ``height`` (default: latest), all pages read,
        in the set's order (voting power descending, then address)."""
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            result = self.validators(height, page=page, per_page=per_page)
            batch = result.get("validators") or []
            out.extend(batch)
            total = int(result.get("total") or len(out))
            if len(out) >= total or not batch:
                return out
            page += 1

    def tx_search(
        self, query: str, page: int = 1, per_page: int = 100, order_by: str = "asc"
    ) -> dict[str, Any]:
        """One page of the transactions matching ``query`` (CometBFT's event query
        language, e.g. ``send_packet.packet_src_channel='channel-0'``)."""
        result: dict[str, Any] = self.call(
            "tx_search",
            query=query,
            prove=False,
            page=str(page),
            per_page=str(per_page),
            order_by=order_by,
        )
        return result
