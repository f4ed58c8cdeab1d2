#!/usr/bin/env python3
"""tests/e2e/rawpeer.py - an XMPP server-to-server peer that breaks the rules,
for the no-bypass tests (tests/e2e/test_bypass.sh, docs/security.md).

It speaks just enough s2s to reach the point an attack needs, then does
what a well-behaved server never would. Every byte it receives is appended
to a transcript file, so a test can prove what reached it and what did not.

Client (it connects to the server under test):

    rawpeer.py client --connect IP:PORT --from DOMAIN --to DOMAIN
                      [--tls --cert PEM --key PEM [--external]]
                      [--stanza XML]... [--transcript FILE]

  Opens a stream from DOMAIN to DOMAIN; with --tls does STARTTLS presenting
  the certificate; with --external authenticates with SASL EXTERNAL; with
  --dialback D (repeatable) asks dialback to authenticate each D in turn on
  that one stream (the second one and after are piggybacked) and prints
  "dialback D: valid|invalid|none"; then sends each --stanza and waits until
  the server closes the stream or 5 s pass. Exit 0 when every step it was
  asked for ran (the server may still refuse: that is for the test to judge).

    rawpeer.py flood --connect IP:PORT --to DOMAIN --count N --prefix P

  N streams without TLS, each "from" a different bogus domain
  (P-<i>.flood.test), each sending one stanza, as fast as the server takes
  them: a flood of refusals.

Server (the server under test connects to it):

    rawpeer.py server --listen IP:PORT --domain DOMAIN --cert PEM --key PEM
                      --mode MODE [--stanza XML]... --transcript FILE
                      [--ready FILE]

  MODE:
    inject-plain   offer STARTTLS and bidi, then send the stanzas at once,
                   before TLS and before any authentication
    inject-tls     do STARTTLS (our certificate is whatever --cert is), offer
                   bidi and SASL EXTERNAL, then send the stanzas before the
                   connecting server authenticates
    db-valid       answer <starttls/> with an unsolicited dialback
                   <db:result type='valid'/>: the stream looks authenticated
                   without TLS
    no-starttls    offer neither TLS nor anything else
    dialback-authority
                   a dialback authoritative server that says "valid" to every
                   <db:verify/> (after STARTTLS, as ejabberd requires), whatever
                   the key: it speaks for any domain the hosts file sends to it
  Serves connections until killed; writes "ready" to --ready once listening.
"""
import argparse
import re
import socket
import ssl
import sys
import threading
import time

NS_STREAM = "http://etherx.jabber.org/streams"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
DB_FEATURE = b"<dialback xmlns='urn:xmpp:features:dialback'/>"
# 24.10-24.12 (xmpp >= 1.9.2) look for urn:xmpp:bidi, 26.07 for the
# correct urn:xmpp:features:bidi: offer both.
BIDI_FEATURES = (b"<bidi xmlns='urn:xmpp:bidi'/>"
                 b"<bidi xmlns='urn:xmpp:features:bidi'/>")
TIMEOUT = 10.0


class Transcript:
    """Every byte received, appended to a file (thread-safe)."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()

    def write(self, tag, data):
        if not self.path:
            return
        with self.lock, open(self.path, "ab") as f:
            f.write(b"--- " + tag.encode() + b" ---\n" + data + b"\n")


def header(frm, to, sid=None):
    attrs = b"xmlns='jabber:server' xmlns:stream='" + NS_STREAM.encode() + b"' "
    attrs += b"xmlns:db='jabber:server:dialback' version='1.0'"
    if frm:
        attrs += b" from='" + frm.encode() + b"'"
    if to:
        attrs += b" to='" + to.encode() + b"'"
    if sid:
        attrs += b" id='" + sid.encode() + b"'"
    return b"<?xml version='1.0'?><stream:stream " + attrs + b">"


def receive(sock, transcript, tag, seconds, done=lambda buf: False, limit=65536):
    """Read until done(buffer) holds, the peer closes, `limit` bytes came or
    `seconds` pass; append what was read to the transcript; return it."""
    buf = b""
    deadline = time.monotonic() + seconds
    while not done(buf) and len(buf) < limit:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(4096)
        except (socket.timeout, ssl.SSLError, OSError):
            break
        if not chunk:
            break
        buf += chunk
    transcript.write(tag, buf)
    return buf


def read_until(sock, markers, transcript, tag):
    """Read until one of the byte strings in markers was seen (or TIMEOUT)."""
    return receive(sock, transcript, tag, TIMEOUT, lambda buf: any(m in buf for m in markers))


def drain(sock, transcript, tag, seconds):
    """Read whatever comes for a while (or until the peer closes)."""
    return receive(sock, transcript, tag, seconds)


def hostport(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


# ---- client ------------------------------------------------------------------

def client(args):
    tr = Transcript(args.transcript)
    sock = socket.create_connection(hostport(args.connect), timeout=TIMEOUT)
    sock.sendall(header(args.frm, args.to))
    got = read_until(sock, [b"</stream:features>"], tr, "features")
    if args.tls:
        if not exchange(sock, tr, got, b"starttls", b"<starttls xmlns='" + NS_TLS.encode() + b"'/>",
                        b"<proceed", "STARTTLS"):
            return 1
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # we attack; we do not judge
        ctx.load_cert_chain(args.cert, args.key)
        sock = ctx.wrap_socket(sock, server_hostname=args.to)
        sock.sendall(header(args.frm, args.to))
        got = read_until(sock, [b"</stream:features>"], tr, "features after tls")
        if args.external:
            if not exchange(sock, tr, got, b"EXTERNAL",
                            b"<auth xmlns='" + NS_SASL.encode() + b"' mechanism='EXTERNAL'>=</auth>",
                            b"<success", "SASL EXTERNAL"):
                return 1
            sock.sendall(header(args.frm, args.to))
            read_until(sock, [b"</stream:features>", b"<stream:features/>"], tr, "features after sasl")
    for domain in args.dialback:
        sock.sendall(b"<db:result from='" + domain.encode() + b"' to='" + args.to.encode() +
                     b"'>a1b2c3d4e5f6</db:result>")
        answer = read_until(sock, [b"type="], tr, "dialback " + domain)
        verdict = re.search(rb"<db:result[^>]*type=['\"]([a-z]+)", answer)
        print("dialback %s: %s" % (domain, verdict.group(1).decode() if verdict else "none"))
        sys.stdout.flush()
    for stanza in args.stanza:
        sock.sendall(stanza.encode())
    drain(sock, tr, "after stanzas", 5.0)
    try:
        sock.close()
    except OSError:
        pass
    return 0


def exchange(sock, tr, features, offered, request, success, what):
    """One negotiation step: `offered` must be in the features; send the
    request; the answer must be `success` (not <failure/>)."""
    if offered not in features:
        print("rawpeer: %s not offered" % what, file=sys.stderr)
        return False
    sock.sendall(request)
    got = read_until(sock, [success, b"<failure"], tr, what)
    if success not in got:
        print("rawpeer: %s refused" % what, file=sys.stderr)
        return False
    return True


def flood(args):
    addr = hostport(args.connect)
    for i in range(args.count):
        frm = "%s-%d.flood.test" % (args.prefix, i)
        try:
            sock = socket.create_connection(addr, timeout=TIMEOUT)
            sock.sendall(header(frm, args.to))
            read_until(sock, [b"</stream:features>"], Transcript(None), "")
            sock.sendall(b"<message from='x@" + frm.encode() + b"' to='x@" + args.to.encode() +
                         b"'><body>flood</body></message>")
            drain(sock, Transcript(None), "", 2.0)
            sock.close()
        except OSError as e:
            print("rawpeer: flood stream %d: %s" % (i, e), file=sys.stderr)
            return 1
    return 0


# ---- server ------------------------------------------------------------------

def serve_one(conn, args, tr):
    conn.settimeout(TIMEOUT)
    peer_header = read_until(conn, [b">"], tr, "header")
    if not peer_header:
        return
    stanzas = b"".join(s.encode() for s in args.stanza)
    features_plain = b"<stream:features><starttls xmlns='" + NS_TLS.encode() + b"'/>"
    if args.mode in ("inject-plain", "inject-tls"):
        features_plain += BIDI_FEATURES
    features_plain += b"</stream:features>"
    if args.mode == "no-starttls":
        conn.sendall(header(args.domain, None, "raw1") + b"<stream:features/>")
        drain(conn, tr, "after features", 10.0)
        return
    conn.sendall(header(args.domain, None, "raw1") + features_plain)
    if args.mode == "inject-plain":
        conn.sendall(stanzas)
        drain(conn, tr, "after injection", 10.0)
        return
    got = read_until(conn, [b"starttls"], tr, "before starttls")
    if b"starttls" not in got:
        return
    if args.mode == "dialback-authority":
        authority(conn, args, tr)
        return
    if args.mode == "db-valid":
        # Which domains: ours (the stream's from) and theirs (their header's from).
        theirs = b""
        for part in peer_header.split(b" "):
            if part.startswith(b"from="):
                theirs = part[6:].split(part[5:6])[0]
        conn.sendall(b"<db:result from='" + args.domain.encode() + b"' to='" + theirs +
                     b"' type='valid'/>")
        drain(conn, tr, "after db:result", 10.0)
        return
    conn.sendall(b"<proceed xmlns='" + NS_TLS.encode() + b"'/>")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    # No client certificate asked: we attack, we do not judge.
    ctx.verify_mode = ssl.CERT_NONE
    try:
        tls = ctx.wrap_socket(conn, server_side=True)
    except (ssl.SSLError, OSError) as e:
        tr.write("tls failed", str(e).encode())
        return
    read_until(tls, [b">"], tr, "header after tls")
    tls.sendall(header(args.domain, None, "raw2") +
                b"<stream:features><mechanisms xmlns='" + NS_SASL.encode() +
                b"'><mechanism>EXTERNAL</mechanism></mechanisms>" + BIDI_FEATURES +
                b"</stream:features>")
    # The injection: stanzas before the connecting server authenticated.
    tls.sendall(stanzas)
    drain(tls, tr, "after injection", 10.0)


def authority(conn, args, tr):
    """Do STARTTLS, then answer every <db:verify/> with type='valid'."""
    conn.sendall(b"<proceed xmlns='" + NS_TLS.encode() + b"'/>")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    ctx.verify_mode = ssl.CERT_NONE
    tls = ctx.wrap_socket(conn, server_side=True)
    read_until(tls, [b"<stream:stream"], tr, "header after tls")
    tls.sendall(header(args.domain, None, "raw3") + b"<stream:features>" + DB_FEATURE +
                b"</stream:features>")
    pending = b""
    while True:
        got = receive(tls, tr, "verify", TIMEOUT,
                      lambda buf: b"</db:verify>" in buf or b"</stream:stream>" in buf)
        if not got:
            return
        pending += got
        for m in re.finditer(rb"<db:verify([^>]*)>[^<]*</db:verify>", pending):
            attrs = dict(re.findall(rb"(from|to|id)=['\"]([^'\"]*)['\"]", m.group(1)))
            tls.sendall(b"<db:verify from='" + attrs.get(b"to", b"") + b"' to='" +
                        attrs.get(b"from", b"") + b"' id='" + attrs.get(b"id", b"") +
                        b"' type='valid'/>")
        end = pending.rfind(b"</db:verify>")
        if end >= 0:
            pending = pending[end + len(b"</db:verify>"):]
        if b"</stream:stream>" in pending:
            return


def server(args):
    tr = Transcript(args.transcript)
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(hostport(args.listen))
    lsock.listen(16)
    if args.ready:
        with open(args.ready, "w") as f:
            f.write("ready\n")
    while True:
        conn, _ = lsock.accept()
        tr.write("connection", b"")
        threading.Thread(target=lambda c=conn: guarded(serve_one, c, args, tr), daemon=True).start()


def guarded(fn, conn, args, tr):
    try:
        fn(conn, args, tr)
    except OSError as e:
        tr.write("error", str(e).encode())
    finally:
        try:
            conn.close()
        except OSError:
            pass


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("client")
    c.add_argument("--connect", required=True)
    c.add_argument("--from", dest="frm", required=True)
    c.add_argument("--to", required=True)
    c.add_argument("--tls", action="store_true")
    c.add_argument("--cert")
    c.add_argument("--key")
    c.add_argument("--external", action="store_true")
    c.add_argument("--dialback", action="append", default=[])
    c.add_argument("--stanza", action="append", default=[])
    c.add_argument("--transcript")
    f = sub.add_parser("flood")
    f.add_argument("--connect", required=True)
    f.add_argument("--to", required=True)
    f.add_argument("--count", type=int, required=True)
    f.add_argument("--prefix", required=True)
    s = sub.add_parser("server")
    s.add_argument("--listen", required=True)
    s.add_argument("--domain", required=True)
    s.add_argument("--cert", required=True)
    s.add_argument("--key", required=True)
    s.add_argument("--mode", required=True,
                   choices=["inject-plain", "inject-tls", "db-valid", "no-starttls",
                            "dialback-authority"])
    s.add_argument("--stanza", action="append", default=[])
    s.add_argument("--transcript", required=True)
    s.add_argument("--ready")
    args = p.parse_args()
    return {"client": client, "flood": flood, "server": server}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
