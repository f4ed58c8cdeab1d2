#!/usr/bin/env python3
"""tests/webadmin/driver.py - a minimal WebDriver client for headless Chromium.

Python 3 standard library only (no pip): chromedriver speaks the W3C WebDriver
JSON protocol over HTTP, which urllib is enough for. One browser session lives
across calls; its chromedriver port, pid and session id are kept in STATE.

  driver.py start STATE OUTDIR           chromedriver + a headless session
  driver.py auth STATE USER PASSWORD     send HTTP basic auth with every request
  driver.py get STATE URL                navigate, wait until the document is complete
  driver.py js STATE SCRIPT              run SCRIPT (a function body), print its JSON result
  driver.py click STATE CSS              click the first element matching CSS, wait for the load
  driver.py screenshot STATE FILE        save a PNG of the page
  driver.py stop STATE                   end the session, stop chromedriver (only ours, by pid)

Exit status 0 on success; on failure a message on stderr and status 1.
"""
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

CHROMIUM = "/usr/lib/chromium/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
TIMEOUT = 30


def die(msg):
    sys.stderr.write("driver: %s\n" % msg)
    sys.exit(1)


def load(state):
    with open(state) as f:
        return json.load(f)


def call(st, method, path, body=None, timeout=TIMEOUT):
    url = "http://127.0.0.1:%d%s" % (st["port"], path)
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read() or b"{}").get("value")
    except urllib.error.HTTPError as e:
        raise RuntimeError("%s %s: %s" % (method, path, e.read().decode(errors="replace")[:500]))


def session(st, method, path, body=None):
    return call(st, method, "/session/%s%s" % (st["session"], path), body)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if pred():
                return
        except Exception:
            pass
        if time.monotonic() >= deadline:
            die("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(0.1)


def cmd_start(state, outdir):
    os.makedirs(outdir, exist_ok=True)
    port = free_port()
    log = open(os.path.join(outdir, "chromedriver.log"), "w")
    proc = subprocess.Popen([CHROMEDRIVER, "--port=%d" % port, "--allowed-ips=127.0.0.1"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    st = {"port": port, "pid": proc.pid, "session": None}
    with open(state, "w") as f:
        json.dump(st, f)
    wait_until(lambda: call(st, "GET", "/status", timeout=2).get("ready"), TIMEOUT, "chromedriver")
    profile = os.path.join(outdir, "profile")
    caps = {"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            # root in a container: no sandbox; no GPU; a fixed window for the screenshots
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1600,1800", "--user-data-dir=" + profile,
                     "--no-first-run", "--disable-extensions"]}}}}
    value = call(st, "POST", "/session", caps, timeout=60)
    st["session"] = value["sessionId"]
    with open(state, "w") as f:
        json.dump(st, f)
    print(value["capabilities"].get("browserVersion", "?"))


def cmd_auth(state, user, password):
    st = load(state)
    token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    # Chrome DevTools through chromedriver: every request carries the header.
    session(st, "POST", "/goog/cdp/execute", {"cmd": "Network.enable", "params": {}})
    session(st, "POST", "/goog/cdp/execute",
            {"cmd": "Network.setExtraHTTPHeaders",
             "params": {"headers": {"Authorization": "Basic " + token}}})


def wait_loaded(st):
    wait_until(lambda: session(st, "POST", "/execute/sync",
                               {"script": "return document.readyState", "args": []}) == "complete",
               TIMEOUT, "the page to load")


def cmd_get(state, url):
    st = load(state)
    session(st, "POST", "/url", {"url": url})
    wait_loaded(st)


def cmd_js(state, script):
    st = load(state)
    print(json.dumps(session(st, "POST", "/execute/sync", {"script": script, "args": []})))


def cmd_click(state, css):
    st = load(state)
    el = session(st, "POST", "/element", {"using": "css selector", "value": css})
    eid = list(el.values())[0]
    before = session(st, "GET", "/url")
    session(st, "POST", "/element/%s/click" % eid, {})
    wait_until(lambda: session(st, "GET", "/url") != before, TIMEOUT, "navigation after click")
    wait_loaded(st)


def cmd_screenshot(state, path):
    st = load(state)
    png = base64.b64decode(session(st, "GET", "/screenshot"))
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        die("screenshot is not a PNG")
    with open(path, "wb") as f:
        f.write(png)


def cmd_stop(state):
    try:
        st = load(state)
    except (OSError, ValueError):
        return
    if st.get("session"):
        try:
            session(st, "DELETE", "")
        except Exception:
            pass
    pid = st.get("pid")
    if pid:
        try:
            os.killpg(pid, signal.SIGTERM)  # chromedriver's own session group: it and its browser
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    os.unlink(state)


def main(argv):
    cmds = {"start": (cmd_start, 2), "auth": (cmd_auth, 3), "get": (cmd_get, 2),
            "js": (cmd_js, 2), "click": (cmd_click, 2), "screenshot": (cmd_screenshot, 2),
            "stop": (cmd_stop, 1)}
    if len(argv) < 2 or argv[1] not in cmds or len(argv) - 2 != cmds[argv[1]][1]:
        die("usage: see the header of " + argv[0])
    try:
        cmds[argv[1]][0](*argv[2:])
    except RuntimeError as e:
        die(str(e))
    except (OSError, KeyError, ValueError) as e:
        die("%s: %s" % (type(e).__name__, e))


if __name__ == "__main__":
    main(sys.argv)
