#!/usr/bin/env python3
"""tests/survey/listener.py - the two servers of the survey lab that are
not XMPP servers.

    listener.py IP PORT MODE LOG_FILE READY_FILE

MODE
  hang   accept every connection and never send a byte (a server that
         hangs after the TCP connect: the survey's deadline must end it)
  close  accept and close at once (unreachable, quickly)
Every accepted connection appends one line to LOG_FILE, so a test can count
how often the survey came (the resume test: a finished domain is not
measured again) and wait for a connection instead of sleeping. Writes
READY_FILE once it listens; runs until killed (at most 10 minutes).
"""
import socket
import sys
import time

ip, port, mode, log, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((ip, port))
s.listen(64)
s.settimeout(1.0)
open(ready, "w").write("ready\n")
held = []
end = time.time() + 600
while time.time() < end:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    with open(log, "a") as f:
        f.write("accepted\n")
    if mode == "close":
        c.close()
    else:
        held.append(c)
