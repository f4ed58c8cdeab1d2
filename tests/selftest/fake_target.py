#!/usr/bin/env python3
"""tests/selftest/fake_target.py - a fake s2s server for the selftest's
paths that no real server in the lab takes.

    fake_target.py IP PORT CHAIN_PEM KEY_PEM MODE READY_FILE

Serves connections one after another (for 60 s at most) until killed:
stream header and <starttls/> before TLS, then, after TLS, by MODE:
  success   offers EXTERNAL and answers <auth/> with <success/> (a target
            that breaks the pledge: the selftest must say ACCEPTED)
  flood     an endless stream of whitespace-padded elements (the bounded
            scanner must stop it: inconclusive, never a hang)
  stall     TLS up, then silence (the deadline must end it)
Writes READY_FILE once it listens.
"""
import socket
import ssl
import sys
import time

ip, port, chain, key, mode, ready = sys.argv[1:7]
HEADER = (b"<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
          b"xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' "
          b"from='fake.test' id='f1' version='1.0'>")


def read_until(conn, marker, limit=65536):
    data = b""
    while marker not in data and len(data) < limit:
        chunk = conn.recv(4096)
        if not chunk:
            raise EOFError
        data += chunk
    return data


def serve(raw, ctx):
    raw.settimeout(10)
    read_until(raw, b"version='1.0'>", 4096)
    raw.sendall(HEADER + b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
                         b"</stream:features>")
    read_until(raw, b"starttls")
    raw.sendall(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    tls = ctx.wrap_socket(raw, server_side=True)
    read_until(tls, b"version='1.0'>")
    if mode == "stall":
        time.sleep(30)
        return
    if mode == "flood":
        tls.sendall(HEADER + b"<stream:features>")
        pad = b"<x>" + b" " * 4000 + b"</x>"
        for _ in range(200):  # 800 KB, more than the scanner's bound
            tls.sendall(pad)
        time.sleep(5)
        return
    tls.sendall(HEADER + b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                         b"<mechanism>EXTERNAL</mechanism></mechanisms></stream:features>")
    read_until(tls, b"</auth>")
    tls.sendall(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
    time.sleep(1)


def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(chain, key)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, int(port)))
    s.listen(8)
    s.settimeout(1)
    open(ready, "w").write("ready\n")
    end = time.time() + 60
    while time.time() < end:
        try:
            conn, _ = s.accept()
        except socket.timeout:
            continue
        try:
            serve(conn, ctx)
        except (OSError, EOFError, ssl.SSLError):
            pass
        finally:
            conn.close()


main()
