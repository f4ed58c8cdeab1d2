#!/usr/bin/env python3
"""tests/probe/hostile.py - misbehaving "XMPP servers" for the probe tests.

    hostile.py IP READY_FILE

Listens on IP, one port per behaviour (MODES below, from port 15001 up),
writes "MODE PORT" lines to READY_FILE once every socket listens, then
serves until killed. Each connection gets its own thread; nothing here
ever answers with real TLS.
"""
import socket
import struct
import sys
import threading
import time

HEADER = (b"<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
          b"xmlns:stream='http://etherx.jabber.org/streams' id='h1' from='hostile.test' version='1.0'>")
FEATURES_TLS = b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>"
PROCEED = b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
HOLD = 120  # seconds a stalling connection is held open (the probe must give up long before)


def read_until(conn, marker, limit=65536):
    """Read until `marker` has been seen (or the peer closes)."""
    buf = b""
    while marker not in buf and len(buf) < limit:
        chunk = conn.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf


def stall(conn):
    conn.recv(4096)
    time.sleep(HOLD)


def garbage(conn):
    conn.recv(4096)
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\x00\x01\x02\xff\xfe garbage\r\n\r\n")
    time.sleep(HOLD)


def endless_header(conn):
    """A stream header that never ends: attributes forever."""
    conn.recv(4096)
    conn.sendall(b"<?xml version='1.0'?><stream:stream xmlns='jabber:server' ")
    i = 0
    try:
        while True:
            conn.sendall(b"a%d='%s' " % (i, b"x" * 50))
            i += 1
    except OSError:
        pass


def endless_features(conn):
    """A proper header, then features that grow without end."""
    conn.recv(4096)
    conn.sendall(HEADER + b"<stream:features>")
    try:
        while True:
            conn.sendall(b"<x xmlns='urn:example:junk'/>" * 64)
    except OSError:
        pass


def stall_features(conn):
    conn.recv(4096)
    conn.sendall(HEADER)
    time.sleep(HOLD)


def stall_tls(conn):
    """Proceed, then never answer the ClientHello."""
    read_until(conn, b">")
    conn.sendall(HEADER + FEATURES_TLS)
    read_until(conn, b"starttls")
    conn.sendall(PROCEED)
    conn.recv(4096)
    time.sleep(HOLD)


def close_mid_tls(conn):
    """Proceed, read the ClientHello, answer with half a TLS record, close."""
    read_until(conn, b">")
    conn.sendall(HEADER + FEATURES_TLS)
    read_until(conn, b"starttls")
    conn.sendall(PROCEED)
    conn.recv(4096)
    conn.sendall(b"\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03")  # a ServerHello cut short


def direct_close_mid_tls(conn):
    """Direct TLS: read the ClientHello, send half a record, close."""
    conn.recv(4096)
    conn.sendall(b"\x16\x03\x03\x00\x7a\x02\x00\x00")


def stream_error(conn):
    conn.recv(4096)
    text = "no such host \\ caf\u00e9 &lt;b&gt;".encode()
    conn.sendall(HEADER + b"<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                 b"<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>" + text + b"</text>"
                 b"</stream:error></stream:stream>")
    time.sleep(1)


def control_bytes(conn):
    """A stream error whose text holds an escape sequence: not XML at all."""
    conn.recv(4096)
    conn.sendall(HEADER + b"<stream:error><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>"
                 b"\x1b[31mred\x1b[0m</text></stream:error>")
    time.sleep(1)


def no_starttls(conn):
    conn.recv(4096)
    conn.sendall(HEADER + b"<stream:features><dialback xmlns='urn:xmpp:features:dialback'/></stream:features>")
    read_until(conn, b"</stream:stream>")


def tls_failure(conn):
    read_until(conn, b">")
    conn.sendall(HEADER + FEATURES_TLS)
    read_until(conn, b"starttls")
    conn.sendall(b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>")
    time.sleep(1)


def injected(conn):
    """<proceed/> followed at once by bytes that are not from TLS."""
    read_until(conn, b">")
    conn.sendall(HEADER + FEATURES_TLS)
    read_until(conn, b"starttls")
    conn.sendall(PROCEED + b"<iq type='set'/>")
    time.sleep(1)


def close_at_once(conn):
    """Reads our stream header, then an orderly close (FIN)."""
    read_until(conn, b">")
    conn.close()


def reset(conn):
    """Reads our stream header, then a reset (RST: linger 0)."""
    read_until(conn, b">")
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


MODES = [stall, garbage, endless_header, endless_features, stall_features, stall_tls, close_mid_tls,
         direct_close_mid_tls, stream_error, control_bytes, no_starttls, tls_failure, injected, close_at_once, reset]


def serve(sock, handler):
    while True:
        conn, _ = sock.accept()

        def run(c=conn):
            try:
                handler(c)
            except OSError:
                pass
            finally:
                try:
                    c.close()
                except OSError:
                    pass
        threading.Thread(target=run, daemon=True).start()


def main():
    ip, ready = sys.argv[1], sys.argv[2]
    lines = []
    for i, handler in enumerate(MODES):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        port = 15001 + i
        s.bind((ip, port))
        s.listen(16)
        threading.Thread(target=serve, args=(s, handler), daemon=True).start()
        lines.append("%s %d\n" % (handler.__name__, port))
    with open(ready + ".tmp", "w") as f:
        f.writelines(lines)
    import os
    os.rename(ready + ".tmp", ready)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
