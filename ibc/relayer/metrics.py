"""Prometheus text-format metrics of the relayer, served by http.server in a thread.

mgrid_relayer_packets_relayed_total{src_chain,dst_chain,kind}   counter
    kind: recv, ack, timeout, timeout_on_close
mgrid_relayer_packets_pending{chain,channel}                    gauge
    packets sent on chain over channel and not yet acknowledged or timed out
mgrid_relayer_errors_total{chain}                               counter
mgrid_relayer_client_height{chain,client_id}                    gauge
    latest height of the client hosted on chain
mgrid_relayer_tx_total{chain,result}                            counter
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Labels = tuple[tuple[str, str], ...]

_HELP = {
    "mgrid_relayer_packets_relayed_total": (
        "counter",
        "Packet messages the relayer delivered (recv, ack, timeout) per direction",
    ),
    "mgrid_relayer_packets_pending": (
        "gauge",
        "Packets sent on a chain's channel and not yet acknowledged or timed out",
    ),
    "mgrid_relayer_errors_total": ("counter", "Failed transactions and RPC errors per chain"),
    "mgrid_relayer_client_height": ("gauge", "Latest height of a light client hosted on a chain"),
    "mgrid_relayer_tx_total": ("counter", "Transactions the relayer sent, by result"),
}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Metrics:
    """A small thread-safe registry of labelled counters and gauges."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, dict[Labels, float]] = {name: {} for name in _HELP}

    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._values[name]
            series[key] = series.get(key, 0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._values[name][key] = value

    def get(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._values[name].get(tuple(sorted(labels.items())), 0)

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for name, (kind, text) in _HELP.items():
                lines.append(f"# HELP {name} {text}")
                lines.append(f"# TYPE {name} {kind}")
                for labels, value in sorted(self._values[name].items()):
                    lines.append(f"{name}{_labels(labels)} {_number(value)}")
        return "\n".join(lines) + "\n"


def _labels(labels: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return "{" + inner + "}" if inner else ""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class MetricsServer:
    """``GET /metrics`` (and ``/``) on ``host:port`` in a daemon thread."""

    def __init__(self, metrics: Metrics, host: str, port: int):
        registry = metrics

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] not in ("/", "/metrics"):
                    self.send_error(404)
                    return
                body = registry.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return  # scrapes are not worth a log line

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="metrics", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    def start(self) -> MetricsServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
