#!/usr/bin/env python3
"""Drives the web console in headless Chromium and prints what it saw as JSON.

Run by tests/it/console.rs (`cargo test --test it console::browser`), which
starts the server, compares what this prints with the TAXII API and checks
the screenshots exist. It speaks the W3C WebDriver protocol to
/usr/bin/chromedriver over plain HTTP with the standard library only (no
selenium to install: docs/testing.md, "Console in a browser"); Chrome
DevTools commands go through chromedriver's goog/cdp/execute endpoint.

Steps: the anonymous view and its "Log in" link (401 with the Basic
challenge); the credentials as an Authorization header (CDP
Network.setExtraHTTPHeaders, what a browser sends after the challenge);
the collections table and its copy-URL values; the preview, clicked
through with Next, then filtered by type through the form; a record whose
value is markup; the browser's console log. Screenshots of each page go
to --screenshots.
"""

import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1360,900",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Driver:
    """A WebDriver session on a chromedriver of our own."""

    def __init__(self, profile):
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [CHROMEDRIVER, f"--port={port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            try:
                if self.call("GET", "/status")["value"]["ready"]:
                    break
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.05)
        else:
            raise SystemExit("chromedriver did not start")
        caps = {
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        "args": FLAGS + [f"--user-data-dir={profile}"],
                    },
                    "goog:loggingPrefs": {"browser": "ALL"},
                }
            }
        }
        self.session = self.call("POST", "/session", caps)["value"]["sessionId"]

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            return json.loads(e.read())

    def s(self, method, path, body=None):
        return self.call(method, f"/session/{self.session}{path}", body)

    def go(self, url):
        self.s("POST", "/url", {"url": url})

    def js(self, script, *args):
        r = self.s("POST", "/execute/sync", {"script": script, "args": list(args)})
        return r["value"]

    def js_async(self, script, *args):
        r = self.s("POST", "/execute/async", {"script": script, "args": list(args)})
        return r["value"]

    def cdp(self, cmd, params):
        return self.s("POST", "/goog/cdp/execute", {"cmd": cmd, "params": params})

    def shot(self, path):
        png = self.s("GET", "/screenshot")["value"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(png))

    def log(self):
        return self.s("POST", "/se/log", {"type": "browser"}).get("value", [])

    def alert_open(self):
        r = self.s("GET", "/alert/text")
        return "error" not in r.get("value", {}) if isinstance(r.get("value"), dict) else True

    def quit(self):
        try:
            self.s("DELETE", "")
        finally:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def row_ids(d):
    return d.js(
        "return Array.from(document.querySelectorAll('tr.object')).map(r => r.dataset.id)"
    )


def click_through(d):
    """Row ids of this page and every page after it, by clicking Next."""
    ids = []
    for _ in range(1000):
        ids += row_ids(d)
        if not d.js("const n = document.getElementById('next'); if (!n) return false; n.click(); return true"):
            return ids
        wait_loaded(d)
    raise SystemExit("too many pages")


def wait_loaded(d):
    for _ in range(200):
        if d.js("return document.readyState") == "complete":
            return
        time.sleep(0.05)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="http://127.0.0.1:PORT")
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--collection", required=True, help="id of a collection the user reads")
    ap.add_argument("--screenshots", required=True)
    a = ap.parse_args()
    os.makedirs(a.screenshots, exist_ok=True)
    ui = a.base + "/ui/"
    out = {}
    profile = tempfile.mkdtemp(prefix="console-chromium-")
    d = Driver(profile)
    try:
        # Anonymous: the anonymous view, whose login link challenges.
        d.go(ui)
        d.shot(os.path.join(a.screenshots, "anonymous.png"))
        login = d.js("return document.getElementById('login').href")
        # Without credentials the login page answers 401 (the console's CSP
        # allows no fetch, so the browser navigates; headless Chromium has
        # no password dialog and cancels the challenge). Navigation Timing
        # gives the status; the WWW-Authenticate header is checked over
        # plain HTTP by the Rust test, since pages cannot read it.
        d.go(login)
        wait_loaded(d)
        out["login"] = {
            "status": d.js("return performance.getEntriesByType('navigation')[0].responseStatus"),
        }
        # Reading the log empties it: the 401 above is logged as a failed
        # load, the expected one; what follows must log nothing.
        d.log()
        # What the browser sends once the user typed the credentials.
        token = base64.b64encode(f"{a.user}:{a.password}".encode()).decode()
        d.cdp("Network.enable", {})
        d.cdp("Network.setExtraHTTPHeaders", {"headers": {"Authorization": "Basic " + token}})
        d.go(login)
        wait_loaded(d)
        out["signed_in_as"] = d.js("const s = document.querySelector('.who strong'); return s && s.textContent")
        d.shot(os.path.join(a.screenshots, "overview.png"))

        d.go(ui + "collections")
        out["collections"] = d.js(
            "return Array.from(document.querySelectorAll('tr.collection')).map(r => r.dataset.id)"
        )
        out["copy_urls"] = d.js(
            "return Array.from(document.querySelectorAll('.objects-url button[data-copy]')).map(b => b.dataset.copy)"
        )
        d.shot(os.path.join(a.screenshots, "collections.png"))

        preview = f"{ui}collections/feeds/{a.collection}"
        d.go(preview + "?size=10")
        d.shot(os.path.join(a.screenshots, "preview.png"))
        out["paged"] = click_through(d)
        # The type filter, through the form.
        d.go(preview + "?size=10")
        d.js(
            "const f = document.querySelector('form.filters');"
            "f.elements['type'].value = 'indicator'; f.submit();"
        )
        time.sleep(0.2)
        wait_loaded(d)
        out["indicators"] = click_through(d)

        # Markup in a value: text, no element, no script.
        d.go(preview + "?q=onerror")
        wait_loaded(d)
        time.sleep(0.3)
        out["xss"] = {
            "text": d.js("const c = document.querySelector('tr.object td.value code'); return c && c.textContent"),
            "injected_imgs": d.js("return document.querySelectorAll('main img, td img').length"),
            "alert": d.alert_open(),
        }
        d.shot(os.path.join(a.screenshots, "search.png"))

        d.go(ui + "settings")
        d.shot(os.path.join(a.screenshots, "settings.png"))
        out["console_log"] = [e for e in d.log() if e.get("level") in ("SEVERE", "WARNING")]
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
