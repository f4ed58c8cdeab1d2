#!/usr/bin/env python3
"""Write the seed inputs of the three harnesses, and the fuzz PKI.

    python3 tests/fuzz/mkseeds.py PKI_DIR SEEDS_DIR [TIME]

PKI_DIR is a test PKI from tests/pki/gen.sh. SEEDS_DIR gets
fuzz_verify/, fuzz_identity/ and fuzz_config/ (one file per seed, named for
what it holds) and pki/: the public files the harnesses build their stores
from (root, pool, CRLs, good.der) plus `time`, the instant verdicts are
pinned to (default: the root CRL's lastUpdate + 1 hour, when the CRLs and
every leaf of a fresh PKI are current). Only the standard library.

`make fuzz-seeds` runs this on $(PKI); the committed corpora under
tests/fuzz/corpus/ came from it, merged (-merge=1) with what the fuzzers
found. Regenerating replaces tests/fuzz/pki/, so corpus inputs built on the
old root stop chaining (they still run, as unknown_issuer cases).
"""
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime, timedelta


def pem_certs(path):
    """DER of every certificate in a PEM file, via the openssl CLI."""
    text = open(path).read()
    out = []
    for block in re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S):
        der = subprocess.run(["openssl", "x509", "-outform", "DER"], input=block.encode(),
                             capture_output=True, check=True).stdout
        out.append(der)
    return out


# ---- fuzz_verify: u8 len + domain, then (u16 len + DER)* -------------------

def frame_verify(domain, certs):
    d = domain.encode() if isinstance(domain, str) else domain
    out = bytes([len(d)]) + d
    for c in certs:
        out += len(c).to_bytes(2, "big") + c
    return out


# tests/pki/README.md: leaf -> the domain its row is about
LEAVES = {
    "good": "good.test", "good-rsa": "good-rsa.test", "serverauth": "serverauth.test",
    "clientauth": "clientauth.test", "noeku": "noeku.test", "expired": "expired.test",
    "notyet": "notyet.test", "selfsigned": "selfsigned.test", "unknownroot": "unknownroot.test",
    "wrongname": "wrongname.test", "wildcard": "a.wild.test", "partialwild": "foo.pwild.test",
    "xmppaddr": "xmpp.test", "xmppjid": "jid.test", "srvid": "srv.test", "srvclient": "srvc.test",
    "cnonly": "cnonly.test", "cnsan": "cnsan-cn.test", "idn": "bücher.test", "nonca": "nonca.test",
    "ncok": "ok.allowed.test", "ncbad": "evil.test", "ncxmpp": "victim.test", "ncsrv": "victim.test",
    "cnuri": "cnuri.test", "revoked": "revoked.test", "nulsan": "nul.test", "rsa1024": "rsa1024.test",
    "sha1": "sha1.test", "badsig": "badsig.test", "deep": "deep.test",
}


def verify_seeds(pki):
    seeds = {}
    for leaf, domain in LEAVES.items():
        chain = pem_certs(os.path.join(pki, leaf + ".chain.pem"))
        seeds["leaf-" + leaf] = frame_verify(domain, chain[:1])
        if len(chain) > 1:
            seeds["chain-" + leaf] = frame_verify(domain, chain)
    good = pem_certs(os.path.join(pki, "good.chain.pem"))
    root = pem_certs(os.path.join(pki, "root.pem"))[0]
    g = good[0]
    seeds.update({
        "edge-empty": b"",
        "edge-domain-only": frame_verify("good.test", []),
        "edge-zero-length-cert": frame_verify("good.test", [b""]),
        "edge-garbage": frame_verify("good.test", [b"\x30\x82\xff\xff" + b"A" * 40]),
        "edge-truncated": frame_verify("good.test", [g[: len(g) // 2]]),
        "edge-trailing-byte": frame_verify("good.test", [g + b"\x00"]),
        "edge-eleven-certs": frame_verify("good.test", [g] * 11),
        "edge-reversed-chain": frame_verify("good.test", list(reversed(good))),
        "edge-root-as-leaf": frame_verify("good.test", [root]),
        "edge-domain-nul": frame_verify(b"good.test\x00.evil.test", [g]),
        "edge-domain-trailing-dot": frame_verify("GOOD.Test.", [g]),
        "edge-domain-ip": frame_verify("192.0.2.1", [g]),
        "edge-domain-wild": frame_verify("www.good.test", [g]),
        "edge-domain-alabel": frame_verify("xn--bcher-kva.test",
                                           pem_certs(os.path.join(pki, "idn.pem"))),
        "edge-domain-ulabel-xmpp": frame_verify("bücher-x.test", pem_certs(os.path.join(pki, "idn.pem"))),
        "edge-long-domain": frame_verify("a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 61, [g]),
        "edge-short-frame": bytes([9]) + b"good.test" + b"\x02\x00" + g[:100],
    })
    return seeds


# ---- fuzz_identity: flags, u8 len + domain, (kind, u8 len, bytes)* ---------

K = dict(DNS=0, XMPP=1, XMPP_IA5=2, SRV=3, SRV_UTF8=4, URI=5, CN=6, CN_IA5=7, OTHER=8, IP=9, EMAIL=10)


def frame_identity(flags, domain, entries):
    d = domain.encode() if isinstance(domain, str) else domain
    out = bytes([flags, len(d)]) + d
    for kind, value in entries:
        v = value.encode() if isinstance(value, str) else value
        out += bytes([K[kind], len(v)]) + v
    return out


def der(tag, body):
    n = len(body)
    if n < 0x80:
        ln = bytes([n])
    elif n < 0x100:
        ln = b"\x81" + bytes([n])
    else:
        ln = b"\x82" + n.to_bytes(2, "big")
    return bytes([tag]) + ln + body


XMPP_OID = der(0x06, bytes.fromhex("2b06010505070805"))   # 1.3.6.1.5.5.7.8.5
SRV_OID = der(0x06, bytes.fromhex("2b06010505070807"))    # 1.3.6.1.5.5.7.8.7


def raw_identity(flags, domain, cn, names_der):
    d = domain.encode()
    c = cn.encode()
    return bytes([flags | 2, len(d)]) + d + bytes([len(c)]) + c + der(0x30, names_der)


def identity_seeds():
    return {
        "dns": frame_identity(0, "good.test", [("DNS", "good.test"), ("DNS", "www.good.test")]),
        "dns-upper": frame_identity(0, "Good.TEST.", [("DNS", "GOOD.test")]),
        "wildcard": frame_identity(0, "a.wild.test", [("DNS", "*.wild.test")]),
        "wildcard-two-labels": frame_identity(0, "a.b.wild.test", [("DNS", "*.wild.test")]),
        "wildcard-bare": frame_identity(0, "wild.test", [("DNS", "*.wild.test")]),
        "wildcard-tld": frame_identity(0, "a.test", [("DNS", "*.test")]),
        "partial-wildcard": frame_identity(0, "foo.pwild.test", [("DNS", "f*.pwild.test")]),
        "xmpp": frame_identity(0, "xmpp.test", [("XMPP", "xmpp.test")]),
        "xmpp-jid": frame_identity(0, "jid.test", [("XMPP", "user@jid.test"), ("XMPP", "jid.test/res")]),
        "xmpp-wrong-type": frame_identity(1, "xmpp.test", [("XMPP_IA5", "xmpp.test"), ("CN", "xmpp.test")]),
        "xmpp-wildcard": frame_identity(0, "a.xmpp.test", [("XMPP", "*.xmpp.test")]),
        "srv": frame_identity(0, "srv.test", [("SRV", "_xmpp-server.srv.test")]),
        "srv-wildcard": frame_identity(0, "a.srv.test", [("SRV", "_XMPP-Server.*.srv.test")]),
        "srv-client": frame_identity(0, "srvc.test", [("SRV", "_xmpp-client.srvc.test")]),
        "srv-wrong-type": frame_identity(0, "srv.test", [("SRV_UTF8", "_xmpp-server.srv.test")]),
        "cn-only": frame_identity(1, "cnonly.test", [("CN", "cnonly.test")]),
        "cn-ia5-wildcard": frame_identity(1, "a.cn.test", [("CN_IA5", "*.cn.test")]),
        "cn-with-san": frame_identity(1, "cnsan-cn.test", [("CN", "cnsan-cn.test"), ("DNS", "cnsan.test")]),
        "cn-with-uri": frame_identity(1, "cnuri.test", [("URI", "xmpp:cnuri.test"), ("CN", "cnuri.test")]),
        "cn-with-other-oid": frame_identity(1, "cn.test", [("OTHER", "cn.test"), ("IP", b"\x7f\x00\x00\x01"),
                                                          ("EMAIL", "a@cn.test"), ("CN", "cn.test")]),
        "cn-empty-san": frame_identity(1 | 4, "cn.test", [("CN", "cn.test")]),
        "idn": frame_identity(0, "bücher.test", [("DNS", "xn--bcher-kva.test"), ("XMPP", "bücher-x.test")]),
        "idn-xmpp-alabel": frame_identity(0, "xn--bcher-x-n2a.test", [("XMPP", "BÜCHER-x.test")]),
        "nul-dns": frame_identity(0, "nul.test", [("DNS", b"nul.test\x00.evil.test")]),
        "nul-xmpp": frame_identity(0, "nul.test", [("XMPP", b"nul.test\x00"), ("SRV", b"_xmpp-server.nul.test\x00x")]),
        "nul-domain": frame_identity(0, b"nul.test\x00.evil", [("DNS", "nul.test")]),
        "ip-domain": frame_identity(1, "192.0.2.1", [("CN", "192.0.2.1")]),
        "long-label": frame_identity(0, "a" * 64 + ".test", [("DNS", "a" * 64 + ".test")]),
        "non-utf8": frame_identity(1, b"\xff\xfe.test", [("XMPP", b"\xc3\x28.test"), ("CN", b"\x80")]),
        "raw-dns-xmpp-srv": raw_identity(0, "xmpp.test", "xmpp.test",
                                         der(0x82, b"good.test")
                                         + der(0xa0, XMPP_OID + der(0xa0, der(0x0c, b"xmpp.test")))
                                         + der(0xa0, SRV_OID + der(0xa0, der(0x16, b"_xmpp-server.srv.test")))),
        "raw-otherName-bool": raw_identity(1, "cn.test", "cn.test",
                                           der(0xa0, XMPP_OID + der(0xa0, b"\x01\x01\xff"))),
        "raw-garbage": bytes([3, 7]) + b"cn.test" + bytes([7]) + b"cn.test" + b"\x30\x05\xa0\x03\x06\x01",
    }


# ---- fuzz_config: the text itself ------------------------------------------

def config_seeds():
    return {
        "pki": 'ca_file = "root.pem";\nintermediate_file = "pool.pem";\n'
               'crl_file = ["root.crl.pem", "inter.crl.pem"];\n',
        "every-key": 'ca_file = ["root.pem"];\nca_dir = ".";\nintermediate_file = "pool.pem";\n'
                     'crl_file = "inter.crl.pem";\nsystem_roots = false;\ncrl_check = "require";\n'
                     'max_depth = 3;\nmax_chain_certs = 4;\nmax_cert_bytes = 4096;\nsecurity_level = 1;\n'
                     'require_server_auth_eku = true;\ninsecure_allow_cn_id = true;\n'
                     'verification_time = "2027-01-01T00:00:00Z";\n',
        "defaults": "",
        "comments": '# only comments\n// c++\n/* c */\n',
        "system-roots": "system_roots = true;\nmax_depth = 0;\ncrl_check = \"none\";\n",
        "no-anchors": "system_roots = false;\n",
        "time-seconds": "verification_time = 1800000000;\nsecurity_level = 5;\n",
        "time-int64": "verification_time = 253402300799L;\n",
        "time-date": 'verification_time = "2026-02-29";\n',
        "bad-unknown-key": 'ca_fiel = "root.pem";\n',
        "bad-type": 'max_depth = "6";\nca_file = 3;\n',
        "bad-range": "max_chain_certs = 33;\n",
        "bad-empty-list": "ca_file = [];\n",
        "bad-empty-path": 'intermediate_file = "";\n',
        "bad-list-type": 'crl_file = ["a.pem", 1];\n',
        "bad-crl-mode": 'crl_check = "sometimes";\n',
        "bad-syntax": 'ca_file = "root.pem"\nmax_depth = ;\n',
        "bad-group": 'tls = { ca_file = "root.pem"; };\n',
        "missing-file": 'ca_file = "nope.pem";\n',
        "not-pem": 'ca_file = "time";\n',
        "crl-as-ca": 'ca_file = "root.crl.pem";\n',
        "escapes": 'ca_file = "ro" "ot.pem";\nintermediate_file = "\\x70ool.pem";\n',
        "array-and-list": 'ca_file = ("root.pem", "root.pem");\ncrl_file = ["root.crl.pem"];\n',
        "setting-colon": 'max_depth : 16, max_cert_bytes : 262144; insecure_allow_cn_id = false;',
    }


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    pki, out = sys.argv[1], sys.argv[2]
    if len(sys.argv) == 4:
        pin = sys.argv[3]
    else:
        last = subprocess.run(["openssl", "crl", "-in", os.path.join(pki, "root.crl.pem"), "-noout",
                               "-lastupdate"], capture_output=True, text=True, check=True).stdout
        t = datetime.strptime(last.strip().split("=", 1)[1], "%b %d %H:%M:%S %Y GMT")
        pin = (t + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for harness, seeds in (("fuzz_verify", verify_seeds(pki)), ("fuzz_identity", identity_seeds()),
                           ("fuzz_config", config_seeds())):
        d = os.path.join(out, harness)
        os.makedirs(d, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data.encode() if isinstance(data, str) else data)
    d = os.path.join(out, "pki")
    os.makedirs(d, exist_ok=True)
    for name in ("root.pem", "pool.pem", "root.crl.pem", "inter.crl.pem", "good.der"):
        shutil.copyfile(os.path.join(pki, name), os.path.join(d, name))
    with open(os.path.join(d, "time"), "w") as f:
        f.write(pin + "\n")


if __name__ == "__main__":
    main()
