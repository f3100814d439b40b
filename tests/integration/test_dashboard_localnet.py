"""``mgrid-dashboard`` in a real browser against a real 4-validator localnet on
which ``mgrid-sim`` trades: the page follows the chain live (new blocks without
a reload), and what it shows (clearing prices, balances, reputation scores,
the order books, the nodes' app-hash agreement) equals what the chain answers
at the height the page says it rendered.

With ``DASHBOARD_SCREENSHOTS=DIR`` the main views are also saved as DIR/*.png
(``make dashboard-screenshots`` regenerates docs/dashboard this way).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By

from clients.mgrid.chain import ChainClient, ChainError
from clients.rpc import RPC, RPCError
from localnet.commands import REPO_ROOT
from localnet.testing import LocalnetRunner
from tests.support.abci_client import free_port
from tests.support.browser import (
    console_errors,
    require_browser,
    start_chromium,
    wait_for,
    wait_until,
)
from tests.support.localnets import mgrid_localnet

pytestmark = pytest.mark.localnet
PORT_OFFSET = 4300
CHAIN_ID = "mg-dash"
SIM_SEED = 5
HOUSEHOLDS = 6
CLEARED = 2  # market.v1.IntervalStatus INTERVAL_STATUS_CLEARED
HOUSEHOLD_ROLES = (1, 2)  # registry.v1.Role PROSUMER, CONSUMER
ROUTES = ("market", "intervals", "network", "participants", "chain", "ibc")

# One synchronous read of the view container (no re-render can come in between).
VIEW_JS = """
const v = document.getElementById('view');
return v ? {route: v.dataset.route || '', ready: v.dataset.ready || '',
            height: v.dataset.height || ''} : null;
"""


@dataclass
class Dashboard:
    """The dashboard server and a browser showing it."""

    url: str
    driver: WebDriver
    proc: subprocess.Popen[bytes]
    log: Path

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=10) as resp:
            return json.loads(resp.read())

    def view(self) -> dict[str, str]:
        state: dict[str, str] = self.driver.execute_script(VIEW_JS)
        return state

    def open(self, fragment: str, route: str, ready_css: str = "", timeout: float = 30) -> int:
        """Show ``#/fragment`` (a hash change: no reload once the page is loaded), wait
        until view ``route`` is rendered (and ``ready_css`` is there); its data-height."""
        if self.driver.current_url.startswith(self.url):
            self.driver.execute_script("window.location.hash = arguments[0]", "#/" + fragment)
        else:
            self.driver.get(f"{self.url}/#/{fragment}")

        def rendered() -> dict[str, str] | None:
            self.check_alive()
            v = self.view()
            if not v or v["route"] != route or v["ready"] != "true" or not v["height"]:
                return None
            if ready_css and not self.driver.find_elements(By.CSS_SELECTOR, ready_css):
                return None
            return v

        def seen() -> str:
            try:
                view, errors = self.view(), console_errors(self.driver)
            except WebDriverException as exc:
                view, errors = None, [str(exc)]
            return (
                f"view {route!r} of #/{fragment} to be rendered"
                + (f" with {ready_css!r}" if ready_css else "")
                + f" (main#view: {view}; console errors: {errors})"
            )

        state = wait_until(rendered, timeout, seen)
        return int(state["height"])

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            pytest.fail(f"the dashboard exited ({self.proc.returncode}):\n{tail(self.log)}")

    def screenshot(self, name: str) -> None:
        folder = os.environ.get("DASHBOARD_SCREENSHOTS")
        if folder:
            path = Path(folder)
            path.mkdir(parents=True, exist_ok=True)
            self.driver.save_screenshot(str(path / f"{name}.png"))

    def await_next_orders(self, timeout: float = 25) -> None:
        """For the screenshots only, best effort: until the next book has orders (the
        households place them some seconds into each interval) and the view shows it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            market = self.api("/api/market")
            if any(b["role"] == "next" and b["orders"] for b in market["books"]):
                while time.monotonic() < deadline:
                    if int(self.view()["height"] or 0) >= market["height"]:
                        return
                    time.sleep(0.2)
            time.sleep(0.5)


def tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


@pytest.fixture(scope="module", autouse=True)
def browser_installed() -> None:
    """Before a localnet is started for nothing."""
    require_browser()


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalnetRunner]:
    yield from mgrid_localnet(tmp_path_factory, PORT_OFFSET, CHAIN_ID)


@pytest.fixture(scope="module")
def chain(net: LocalnetRunner) -> ChainClient:
    return ChainClient(RPC(net.network().node(1).rpc_url))  # not the dashboard's first node


@pytest.fixture(scope="module")
def sim(net: LocalnetRunner, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """mgrid-sim trading in the background for the whole module; yields its log."""
    n = net.network()
    log = tmp_path_factory.mktemp("sim") / "sim.log"
    cmd = [
        sys.executable, "-m", "clients.sim.cli",
        "--node", n.node(0).rpc_url,
        "--keyring-dir", str(n.keyring_dir),
        "--keyring-backend", "test",
        "--households", str(HOUSEHOLDS),
        "--intervals", "4",
        "--seed", str(SIM_SEED),
        "--misbehave", "1",
        "--save-keys",
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=net.env, cwd=REPO_ROOT
        )
    yield log
    stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def dashboard(
    net: LocalnetRunner, sim: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Dashboard]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("dashboard") / "dashboard.log"
    nodes = [arg for i in range(4) for arg in ("--node", net.network().node(i).rpc_url)]
    cmd = [sys.executable, "-m", "clients.dashboard.cli", *nodes, "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=net.env, cwd=REPO_ROOT
        )
    driver: WebDriver | None = None
    try:

        def listening() -> bool:
            if proc.poll() is not None:
                pytest.fail(f"the dashboard exited ({proc.returncode}):\n{tail(log)}")
            if f"dashboard: {url}" not in tail(log, 100_000):
                return False
            try:
                with urllib.request.urlopen(url + "/api/status", timeout=5) as resp:
                    return resp.status == 200
            except OSError:  # not listening yet, or an HTTP error: the node not followed yet
                return False

        wait_until(listening, 30, f"the dashboard to print 'dashboard: {url}' and answer")
        driver = start_chromium()
        yield Dashboard(url, driver, proc, log)
    finally:
        if driver is not None:
            driver.quit()
        stop(proc)


@pytest.fixture(scope="module")
def cleared(chain: ChainClient, sim: Path) -> tuple[int, int]:
    """(id, clearing price) of an interval the households' orders cleared with a price."""

    def find() -> tuple[int, int] | None:
        schedule = chain.schedule()
        for n in range(schedule.next_to_clear - 1, schedule.next_to_clear - 6, -1):
            try:
                interval = chain.interval(n)
            except ChainError:
                continue
            if interval.status == CLEARED and interval.HasField("clearing_price"):
                return n, int(interval.clearing_price)
        return None

    def found() -> tuple[int, int] | None:
        if sim_exited_badly(sim):
            pytest.fail(f"mgrid-sim failed:\n{tail(sim)}")
        try:
            return find()
        except RPCError:
            return None

    return wait_until(found, 150, f"an interval cleared with a price (sim log:\n{tail(sim, 800)})")


def sim_exited_badly(log: Path) -> bool:
    text = tail(log, 4000)
    return "Traceback" in text or "mgrid-sim:" in text


@pytest.fixture(scope="module")
def households(chain: ChainClient, sim: Path) -> list[str]:
    """The addresses of the simulated households, once all are registered."""

    def registered() -> list[str] | None:
        page = chain.participants(limit=100)
        found = [p.address for p in page.participants if p.role in HOUSEHOLD_ROLES]
        return found if len(found) == HOUSEHOLDS else None

    return wait_until(registered, 120, f"{HOUSEHOLDS} registered households")


def test_the_page_loads(dashboard: Dashboard) -> None:
    height = dashboard.open("", "overview")
    assert height > 0
    chain_id = wait_for(dashboard.driver, "#chain-id")
    wait_until(lambda: chain_id.text.strip(), 10, "the chain id in #chain-id")
    assert chain_id.text.strip() == CHAIN_ID
    for route in ROUTES:
        link = wait_for(dashboard.driver, f'a[data-route="{route}"]', timeout=1)
        assert (link.get_attribute("href") or "").endswith(f"#/{route}"), route
    node_state = wait_for(dashboard.driver, "#node-state")
    assert node_state.get_attribute("data-ok") == "true"
    assert console_errors(dashboard.driver) == []


def test_the_height_follows_new_blocks_without_a_reload(
    dashboard: Dashboard, net: LocalnetRunner
) -> None:
    dashboard.open("", "overview")
    driver = dashboard.driver

    def header_height() -> int:
        return int(wait_for(driver, "#height").get_attribute("data-value") or 0)

    before = wait_until(header_height, 15, "a height in #height")
    view_before = int(dashboard.view()["height"])
    driver.execute_script("window.__marker = 'still the same page';")
    after = wait_until(
        lambda: header_height() > before and header_height(), 20, f"#height to pass {before}"
    )
    wait_until(
        lambda: int(dashboard.view()["height"] or 0) > view_before,
        20,
        f"the overview to be refetched after height {view_before}",
    )
    assert driver.execute_script("return window.__marker;") == "still the same page"
    assert after <= net.max_height()


def test_a_cleared_price_is_the_chains(
    dashboard: Dashboard, chain: ChainClient, cleared: tuple[int, int]
) -> None:
    interval, price = cleared
    row = f'tr[data-interval="{interval}"]'
    dashboard.open("intervals", "intervals", ready_css=row)
    driver = dashboard.driver
    cell = driver.find_element(By.CSS_SELECTOR, f'{row} td[data-field="clearing_price"]')
    assert cell.get_attribute("data-value") == str(price)
    state = chain.interval(interval)
    for field in ("matched_wh", "grid_import_wh", "grid_export_wh"):
        cell = driver.find_element(By.CSS_SELECTOR, f'{row} td[data-field="{field}"]')
        assert cell.get_attribute("data-value") == str(getattr(state, field)), field

    detail = f'section#interval-detail[data-interval="{interval}"]'
    dashboard.open(f"interval/{interval}", "interval", ready_css=detail)
    span = driver.find_element(By.CSS_SELECTOR, f'{detail} span[data-field="clearing_price"]')
    assert span.get_attribute("data-value") == str(price)


BALANCE_JS = """
const v = document.getElementById('view');
const p = document.querySelector('section#participant');
const b = p && p.querySelector('span[data-field="balance"][data-denom="ugrid"]');
const s = p && p.querySelector('span[data-field="score"]');
return {height: v.dataset.height, address: p ? p.dataset.address : null,
        balance: b ? b.dataset.value : null, score: s ? s.dataset.value : null};
"""


def test_a_participant_shows_the_chains_balance(
    dashboard: Dashboard, chain: ChainClient, households: list[str]
) -> None:
    address = households[0]
    section = f'section#participant[data-address="{address}"]'
    dashboard.open(f"participant/{address}", "participant", ready_css=section)
    shown = dashboard.driver.execute_script(BALANCE_JS)
    assert shown["address"] == address
    height = int(shown["height"])
    assert shown["balance"] == str(chain.balance(address, "ugrid", height=height).amount)
    assert shown["score"] == str(chain.score(address, height=height).score.score)


BOOKS_JS = """
const v = document.getElementById('view');
return {height: v.dataset.height, books: [...document.querySelectorAll('section.book')].map(b => ({
  interval: b.dataset.interval, status: b.dataset.status,
  curve: b.querySelector('svg.curve') !== null,
  crossing: b.querySelector('span[data-field="crossing_price"]') !== null}))};
"""


def test_the_market_shows_the_next_intervals_book(
    dashboard: Dashboard, chain: ChainClient, cleared: tuple[int, int]
) -> None:
    dashboard.open("market", "market", ready_css="section.book svg.curve")
    shown = dashboard.driver.execute_script(BOOKS_JS)
    schedule = chain.schedule(height=int(shown["height"]))
    books = {int(b["interval"]): b for b in shown["books"]}
    assert schedule.next_to_clear in books, (schedule.next_to_clear, sorted(books))
    book = books[schedule.next_to_clear]
    status = chain.interval(schedule.next_to_clear, height=int(shown["height"])).status
    assert book["status"] == ("cleared" if status == CLEARED else "open")
    assert book["curve"] and book["crossing"], book


SCORES_JS = """
const v = document.getElementById('view');
const rows = {};
for (const tr of document.querySelectorAll('tr[data-address]')) {
  const td = tr.querySelector('td[data-field="score"]');
  rows[tr.dataset.address] = td ? td.dataset.value : null;
}
return {height: v.dataset.height, route: v.dataset.route, rows: rows};
"""


def test_the_participants_are_ranked_by_the_chains_scores(
    dashboard: Dashboard, chain: ChainClient, households: list[str]
) -> None:
    dashboard.open("participants", "participants", ready_css="tr[data-address]")
    wait_for(dashboard.driver, "#participant-search")
    wait_for(dashboard.driver, "#page-prev")
    wait_for(dashboard.driver, "#page-next")

    def listed_and_scored() -> dict[str, Any] | None:
        shown: dict[str, Any] = dashboard.driver.execute_script(SCORES_JS)
        rows = shown["rows"] if shown["route"] == "participants" else {}
        listed = set(households) <= set(rows) and any(rows[h] for h in households)
        return shown if listed else None

    # Scores start with the first settled interval: until then the households are unranked.
    shown = wait_until(
        listed_and_scored, 90, f"the households {households} on #/participants, one scored"
    )
    height = int(shown["height"])
    for address, score in shown["rows"].items():
        chain_score = chain.score(address, height=height)
        if score:
            assert score == str(chain_score.score.score), address
        else:  # unranked: no score shown (the chain answers the initial score, rank 0)
            assert chain_score.rank == 0, (address, chain_score)


def test_the_chain_view_shows_the_nodes_agreeing(dashboard: Dashboard, net: LocalnetRunner) -> None:
    dashboard.open("chain", "chain", ready_css="tr[data-node]")
    driver = dashboard.driver
    urls = {net.network().node(i).rpc_url for i in range(4)}
    rows = driver.find_elements(By.CSS_SELECTOR, "tr[data-node]")
    assert {r.get_attribute("data-node") for r in rows} == urls
    for row in rows:
        app_hash = row.find_element(By.CSS_SELECTOR, 'td[data-field="app_hash"]').text.strip()
        assert app_hash, row.get_attribute("data-node")
    agreement = wait_for(driver, "#app-hash-agreement")
    assert agreement.get_attribute("data-value") == "true"


def test_every_route_renders_without_console_errors(
    dashboard: Dashboard, cleared: tuple[int, int], households: list[str]
) -> None:
    interval, _ = cleared
    views = [
        ("overview", "", "overview", "tr[data-interval]"),
        ("market", "market", "market", "section.book svg.curve"),
        ("intervals", "intervals", "intervals", "tr[data-interval]"),
        ("interval", f"interval/{interval}", "interval", "section#interval-detail"),
        ("network", "network", "network", ""),
        ("participants", "participants", "participants", "tr[data-address]"),
        ("participant", f"participant/{households[0]}", "participant", "section#participant"),
        ("chain", "chain", "chain", "tr[data-node]"),
        ("ibc", "ibc", "ibc", ""),
    ]
    for name, fragment, route, ready_css in views:
        dashboard.open(fragment, route, ready_css=ready_css)
        if name == "overview" and os.environ.get("DASHBOARD_SCREENSHOTS"):
            dashboard.await_next_orders()
        error = dashboard.driver.find_elements(By.CSS_SELECTOR, "#error")
        assert not error or not error[0].is_displayed(), f"#{fragment}: {error[0].text}"
        if name != "ibc":  # the localnet has no IBC: an empty page
            dashboard.screenshot(name)
    assert console_errors(dashboard.driver) == []
    dashboard.check_alive()
