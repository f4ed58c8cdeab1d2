#!/usr/bin/env python3
"""tests/probe/dns.py - a tiny authoritative DNS server for the probe tests.

    dns.py IP ZONE_FILE READY_FILE

Answers UDP queries on IP:53 from ZONE_FILE, lines of
    NAME SRV PRIORITY WEIGHT PORT TARGET      (TARGET "." allowed)
Every other name gets NXDOMAIN, so nothing is ever forwarded anywhere.
Writes READY_FILE once it listens.
"""
import os
import socket
import struct
import sys


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def read_qname(msg, off):
    labels = []
    while True:
        n = msg[off]
        off += 1
        if n == 0:
            return ".".join(labels).lower(), off
        labels.append(msg[off:off + n].decode("ascii", "replace"))
        off += n


def main():
    ip, zone_file, ready = sys.argv[1:4]
    zone = {}
    with open(zone_file) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 6 and parts[1] == "SRV":
                zone.setdefault(parts[0].lower().rstrip("."), []).append(
                    (int(parts[2]), int(parts[3]), int(parts[4]), parts[5]))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((ip, 53))
    with open(ready + ".tmp", "w") as f:
        f.write("ready\n")
    os.rename(ready + ".tmp", ready)
    while True:
        msg, peer = sock.recvfrom(4096)
        try:
            qid, _flags, qd = struct.unpack(">HHH", msg[:6])
            name, off = read_qname(msg, 12)
            qtype, _qclass = struct.unpack(">HH", msg[off:off + 4])
            question = msg[12:off + 4]
        except (struct.error, IndexError):
            continue
        records = zone.get(name, []) if qtype == 33 else []
        rcode = 0 if name in zone else 3
        answers = b""
        for prio, weight, port, target in records:
            rdata = struct.pack(">HHH", prio, weight, port) + encode_name(target)
            answers += b"\xc0\x0c" + struct.pack(">HHIH", 33, 1, 60, len(rdata)) + rdata
        header = struct.pack(">HHHHHH", qid, 0x8400 | 0x0100 | rcode, 1, len(records), 0, 0)
        sock.sendto(header + question + answers, peer)


if __name__ == "__main__":
    main()
