"""harness_browser.py - headless Chromium through Selenium, for the dashboard test.

Purpose: `Browser` starts Debian's chromium via /usr/bin/chromedriver
  (python3-selenium) with the browser and performance logs on, sends an
  Authorization header on every request (CDP Network.setExtraHTTPHeaders),
  and reads the dashboard's test hooks: element text, tr[data-value] rows
  with td[data-field] cells, whether a canvas has pixels, console errors and
  every URL the page requested.
Who calls it: tests/integration/test_dashboard.py.
Lifetime rules: start()/stop() or a `with` block; stop() quits the driver
  and then stops the chromedriver process by its PID if it is still there.
  The logs are drained as they are read and kept in `console` and
  `requests`, so nothing is lost between two reads.
Errors: TimeoutError from waits (with the banner text and console errors in
  the message); selenium's exceptions otherwise.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import harness

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"


def available() -> str | None:
    """None when a browser test can run; otherwise why not."""
    if not os.access(CHROMEDRIVER, os.X_OK):
        return "no %s (apt-get install chromium-driver)" % CHROMEDRIVER
    try:
        import selenium  # noqa: F401 (only whether it is there)
    except ImportError:
        return "python3-selenium is not installed"
    return None


class Browser:
    def __init__(self, width: int = 1280, height: int = 1400):
        self.width, self.height = width, height
        self.driver = None
        self.service = None
        self.console: list = []    # browser log entries (dicts)
        self.requests: list = []   # URLs of Network.requestWillBeSent

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-default-apps", "--mute-audio",
                    "--window-size=%d,%d" % (self.width, self.height)):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        self.service = Service(CHROMEDRIVER, log_path=os.devnull)
        self.driver = webdriver.Chrome(service=self.service, options=options)
        self.driver.set_page_load_timeout(30)
        self.driver.set_script_timeout(30)
        return self

    def stop(self):
        if self.driver is not None:
            try:
                self.driver.quit()
            except Exception:  # noqa: BLE001 - the PID below is the fallback
                pass
            self.driver = None
        proc = getattr(self.service, "process", None)
        if proc is not None:
            harness.stop_process(proc, timeout=5)
        self.service = None

    # ------------------------------------------------------------ requests

    def send_header(self, name: str, value: str):
        """Sends name: value with every request of this browser from now on."""
        self.driver.execute_cdp_cmd("Network.enable", {})
        self.driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {name: value}})

    def get(self, url: str):
        self.driver.get(url)

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    # ------------------------------------------------------------------ logs

    def drain_logs(self):
        self.console += self.driver.get_log("browser")
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                self.requests.append(message["params"]["request"]["url"])

    def console_errors(self) -> list:
        self.drain_logs()
        return [e for e in self.console if e.get("level") == "SEVERE"]

    def request_urls(self) -> list:
        self.drain_logs()
        return list(self.requests)

    # ------------------------------------------------------------- the page

    def wait(self, predicate, timeout: float = 15.0, what: str = "condition"):
        try:
            return harness.wait_until(predicate, timeout, interval=0.1, what=what)
        except TimeoutError as e:
            raise TimeoutError("%s; #error says %r; console errors: %s"
                               % (e, self.banner(), self.console_errors())) from None

    def banner(self) -> str:
        return self.js("const b = document.getElementById('error');"
                       "return b && !b.hidden ? b.textContent : '';")

    def attr(self, selector: str, name: str):
        return self.js("const n = document.querySelector(arguments[0]);"
                       "return n ? n.getAttribute(arguments[1]) : null;", selector, name)

    def show(self, section: str, timeout: float = 15.0):
        """Goes to #section by its nav link and waits for data-loaded="true"."""
        self.js("document.querySelector('nav a[data-section=\"' + arguments[0] + '\"]').click();",
                section)
        self.wait_loaded("#" + section, timeout)

    def wait_loaded(self, selector: str, timeout: float = 15.0):
        self.wait(lambda: self.attr(selector, "data-loaded") == "true", timeout,
                  what="%s to render (data-loaded)" % selector)

    def text(self, element_id: str) -> str:
        return self.js("return document.getElementById(arguments[0]).textContent;", element_id)

    def raw(self, element_id: str):
        return self.js("return document.getElementById(arguments[0]).getAttribute('data-raw');",
                       element_id)

    def rows(self, selector: str) -> dict:
        """{data-value: {field: text}} of the rows under selector (e.g. '#tags-table tbody')."""
        return self.js("""
            const out = {};
            for (const tr of document.querySelectorAll(arguments[0] + ' tr[data-value]')) {
              const cells = {};
              for (const c of tr.querySelectorAll('[data-field]')) {
                cells[c.getAttribute('data-field')] = c.textContent;
              }
              out[tr.getAttribute('data-value')] = cells;
            }
            return out;""", selector)

    def canvas_pixels(self, element_id: str) -> int:
        """How many pixels of the canvas are not fully transparent."""
        return self.js("""
            const c = document.getElementById(arguments[0]);
            if (!c || !c.width || !c.height) return 0;
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) n++;
            return n;""", element_id)

    def chart_data(self, element_id: str) -> dict:
        """{dataset label: [values]} of the Chart.js chart on that canvas."""
        return self.js("""
            const chart = window.Chart && window.Chart.getChart(arguments[0]);
            if (!chart) return null;
            const out = {labels: chart.data.labels.slice(), sets: {}};
            for (const s of chart.data.datasets) out.sets[s.label] = s.data.slice();
            return out;""", element_id)

    def screenshot(self, path: Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.js("window.scrollTo(0, 0);")
        time.sleep(0.05)
        assert self.driver.save_screenshot(str(path)), path
