#!/usr/bin/env python3
"""Write the seed inputs of fuzz_dns (DNS record data, names, domains).

    python3 tests/fuzz/mkseeds_dns.py SEEDS_DIR

One file per seed, named for what it holds; the framing is fuzz_dns.c's
(u8 op, then per op). No PKI: these are bytes a DNS server could send.
The committed tests/fuzz/corpus/fuzz_dns/ came from this, merged
(-merge=1) with what the fuzzer found. Only the standard library.
"""
import os
import sys

NAME, SRV, TLSA, HOST, QNAME, COMBINE = range(6)


def wire(*labels):
    """Labels (bytes or str) to a wire-format name with the root label."""
    out = b""
    for label in labels:
        b = label.encode() if isinstance(label, str) else label
        out += bytes([len(b)]) + b
    return out + b"\x00"


def dotted(name):
    return wire(*name.split(".")) if name else b"\x00"


def srv(prio, weight, port, name_wire):
    return bytes([SRV]) + prio.to_bytes(2, "big") + weight.to_bytes(2, "big") + port.to_bytes(2, "big") + name_wire


def name(name_wire, cap=255):
    return bytes([NAME, cap]) + name_wire


def tlsa(usage, selector, mtype, data, mode=0):
    return bytes([TLSA, mode, usage, selector, mtype]) + data


def host(domain, port=5269):
    d = domain.encode() if isinstance(domain, str) else domain
    return bytes([HOST]) + port.to_bytes(2, "big") + d


def qname(h, port=5269, cap=255):
    return bytes([QNAME]) + port.to_bytes(2, "big") + bytes([cap]) + h.encode()


def seeds():
    xmpp = dotted("xmpp.example.test")
    longest = wire("a" * 63, "b" * 63, "c" * 63, "d" * 61)  # 255 octets
    s = {
        # SRV record data
        "srv-ok": srv(0, 5, 5269, xmpp),
        "srv-upper": srv(10, 0, 5270, dotted("XMPP.Example.TEST")),
        "srv-root": srv(0, 0, 0, b"\x00"),
        "srv-underscore": srv(1, 1, 5269, dotted("_xmpp.srv_host.test")),
        "srv-idn": srv(1, 1, 5269, dotted("xn--bcher-kva.example")),
        "srv-longest": srv(1, 1, 5269, longest),
        "srv-too-long": srv(1, 1, 5269, wire("a" * 63, "b" * 63, "c" * 63, "d" * 62)),
        "srv-label-64": srv(1, 1, 5269, bytes([64]) + b"a" * 64 + b"\x00"),
        "srv-pointer": srv(1, 1, 5269, b"\x04xmpp\xc0\x0c"),
        "srv-pointer-only": srv(1, 1, 5269, b"\xc0\x0c"),
        "srv-reserved-0x40": srv(1, 1, 5269, b"\x41abc\x00"),
        "srv-truncated-label": srv(1, 1, 5269, b"\x3fabc"),
        "srv-no-root": srv(1, 1, 5269, b"\x04xmpp"),
        "srv-trailing": srv(1, 1, 5269, xmpp + b"\x00"),
        "srv-short": bytes([SRV]) + b"\x00\x01\x00\x02\x14",
        "srv-no-name": bytes([SRV]) + b"\x00\x01\x00\x02\x14\x95",
        "srv-dot-in-label": srv(1, 1, 5269, wire("a.b", "test")),
        "srv-nul-in-label": srv(1, 1, 5269, wire(b"a\x00b", "test")),
        "srv-newline": srv(1, 1, 5269, wire(b"a\nb", "test")),
        "srv-space-star": srv(1, 1, 5269, wire("*", "a b", "test")),
        "srv-backslash": srv(1, 1, 5269, wire("a\\x2eb", "test")),
        "srv-utf8-label": srv(1, 1, 5269, wire("bücher".encode(), "example")),
        "srv-ipv4": srv(1, 1, 5269, dotted("192.0.2.1")),
        "srv-high-bytes-cut": srv(1, 1, 5269, wire("a" * 63, "b" * 63, "c" * 63, b"d" * 60 + b"\x01")),
        # wire names with a small output room
        "name-ok": name(xmpp),
        "name-root": name(b"\x00", 1),
        "name-empty": name(b""),
        "name-room-small": name(xmpp, 8),
        "name-room-exact": name(xmpp, 18),
        "name-room-one-short": name(xmpp, 17),
        "name-escape-small": name(wire(b"\xff\xfe", "test"), 6),
        "name-longest": name(longest, 255),
        # TLSA record data
        "tlsa-3-1-1": tlsa(3, 1, 1, bytes(range(32))),
        "tlsa-2-0-2": tlsa(2, 0, 2, bytes(range(64))),
        "tlsa-3-0-0-cert": tlsa(3, 0, 0, b"\x30\x82\x01\x00" + bytes(256)),
        "tlsa-odd-params": tlsa(255, 255, 255, b"\x00"),
        "tlsa-no-data": bytes([TLSA, 0, 3, 1, 1]),
        "tlsa-short": bytes([TLSA, 0, 3]),
        "tlsa-max": tlsa(3, 1, 1, b"", 1 | (1 << 1)),      # 8192 bytes of data
        "tlsa-over-max": tlsa(3, 1, 1, b"", 1 | (2 << 1)),  # 8193
        # XMPP domains to host names and query names
        "host-ok": host("example.test"),
        "host-trailing-dot": host("Example.TEST."),
        "host-idn": host("bücher.example"),
        "host-idn-upper": host("BÜCHER.example", 443),
        "host-punycode": host("xn--bcher-kva.example"),
        "host-bad-punycode": host("xn--zz.example"),
        "host-empty-label": host("a..b"),
        "host-nul": host(b"good.test\x00.evil"),
        "host-ipv4": host("192.0.2.1"),
        "host-space": host("a b.test"),
        "host-bad-utf8": host(b"\xff\xfe.test"),
        "host-long": host(".".join(["a" * 63] * 3 + ["b" * 61])),
        "host-srv-too-long": host(".".join(["a" * 63] * 3 + ["b" * 40])),
        "host-port-0": host("example.test", 0),
        "host-port-65535": host("example.test", 65535),
        "qname-ok": qname("example.test"),
        "qname-room-small": qname("example.test", 5269, 20),
        "qname-long": qname("a" * 240),
        # statuses to combine (0 SECURE, 1 INSECURE, 2 BOGUS, 3 ERROR)
        "combine-none": bytes([COMBINE]),
        "combine-secure-error": bytes([COMBINE, 0, 3]),
        "combine-insecure": bytes([COMBINE, 1, 1, 1]),
        "combine-insecure-error": bytes([COMBINE, 1, 3]),
        "combine-bogus": bytes([COMBINE, 0, 1, 3, 2]),
    }
    return s


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for n, data in seeds().items():
        with open(os.path.join(out, n), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
