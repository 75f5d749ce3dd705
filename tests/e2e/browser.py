"""Headless Chromium for the UI tests: a page's DOM after its scripts ran, a screenshot, the runs table's
rows, and a loopback proxy that logs in to a server that wants basic auth."""

from __future__ import annotations

import base64
import http.server
import os
import shutil
import subprocess
import threading
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,900", "--virtual-time-budget=15000"]


def find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def run_browser(browser: str, profile: Path, *args: str) -> str:
    profile.mkdir()
    done = subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def page_dom(browser: str, tmp_path: Path, url: str, screenshot: str) -> str:
    """The DOM of `url` once its scripts ran. With RNNLAB_UPDATE_SCREENSHOT set, a screenshot of it also
    replaces reports/`screenshot` (the README's picture): on request only, as it costs a second browser."""
    dom = run_browser(browser, tmp_path / "profile-dom", "--dump-dom", url)
    if os.environ.get("RNNLAB_UPDATE_SCREENSHOT"):
        shot = tmp_path / screenshot
        run_browser(browser, tmp_path / "profile-shot", f"--screenshot={shot}", url)
        assert shot.stat().st_size > 20_000  # a rendered page, not a blank image
        (ROOT / "reports").mkdir(exist_ok=True)
        shutil.copyfile(shot, ROOT / "reports" / screenshot)
    return dom


class RowText(HTMLParser):
    """Text of each runs-table row, keyed by AG Grid's row-index (pinned and scrolled parts joined)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[str]] = {}
        self._stack: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        row = attrs.get("row-index") if attrs.get("role") == "row" else None
        self._stack.append(row if row is not None else (self._stack[-1] if self._stack else None))

    def handle_endtag(self, tag):
        if self._stack:
            self._stack.pop()

    def handle_data(self, data):
        if self._stack and self._stack[-1] is not None and data.strip():
            self.rows.setdefault(self._stack[-1], []).append(data.strip())


def table_rows(dom: str) -> list[list[str]]:
    parser = RowText()
    parser.feed(dom)
    return [parser.rows[k] for k in sorted(parser.rows, key=int)]


class LoginProxy:
    """A loopback proxy adding a basic-auth login to every request: the browser once its user logged in.

    Chromium takes credentials from a URL (`http://user:pw@host/`) for the page alone and refuses the
    page's own requests from such a URL, so a single-page app behind basic auth needs this.
    """

    def __init__(self, target: str, user: str, password: str) -> None:
        login = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

        class Forward(http.server.BaseHTTPRequestHandler):
            def forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "accept")}
                request = urllib.request.Request(target + self.path, data=body, method=self.command,
                                                 headers={**headers, "Authorization": login})
                try:
                    with urllib.request.urlopen(request, timeout=60) as response:
                        status, kind, data = response.status, response.headers.get("Content-Type"), response.read()
                except urllib.error.HTTPError as err:
                    status, kind, data = err.code, err.headers.get("Content-Type"), err.read()
                self.send_response(status)
                if kind:
                    self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = forward

            def log_message(self, *args) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Forward)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> LoginProxy:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
