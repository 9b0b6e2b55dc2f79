"""milter_client.py - a minimal MTA side of the milter protocol (version 6), for tests.

Purpose: talk to staffeld's socket the way Sendmail or Postfix do, but with
  whatever the test chooses to offer at negotiation (e.g. no SMFIF_CHGFROM,
  no SMFIF_QUARANTINE), and record every reply and modification action.
What it trusts: nothing from the milter; every read is bounded (1 MiB per
  packet) and has a socket timeout.
Who calls it: tests/integration/test_milter_actions.py.
Errors: MilterProtocolError on a malformed or unexpected packet; OSError
  (socket.timeout) when the milter does not answer in time.
The packet format and flag values are libmilter's (include/libmilter/mfdef.h).
"""
from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field

VERSION = 6

# Actions the MTA may offer (SMFIF_*).
SMFIF_ADDHDRS = 0x01
SMFIF_CHGBODY = 0x02
SMFIF_ADDRCPT = 0x04
SMFIF_DELRCPT = 0x08
SMFIF_CHGHDRS = 0x10
SMFIF_QUARANTINE = 0x20
SMFIF_CHGFROM = 0x40
SMFIF_ADDRCPT_PAR = 0x80
SMFIF_SETSYMLIST = 0x100
ALL_ACTIONS = 0x1FF

# Protocol steps (SMFIP_*).
SMFIP_NOCONNECT = 0x01
SMFIP_NOHELO = 0x02
SMFIP_NOMAIL = 0x04
SMFIP_NORCPT = 0x08
SMFIP_NOBODY = 0x10
SMFIP_NOHDRS = 0x20
SMFIP_NOEOH = 0x40
SMFIP_NR_HDR = 0x80
SMFIP_NOUNKNOWN = 0x100
SMFIP_NODATA = 0x200
SMFIP_SKIP = 0x400
SMFIP_RCPT_REJ = 0x800
SMFIP_NR_CONN = 0x1000
SMFIP_NR_HELO = 0x2000
SMFIP_NR_MAIL = 0x4000
SMFIP_NR_RCPT = 0x8000
SMFIP_NR_DATA = 0x10000
SMFIP_NR_UNKN = 0x20000
SMFIP_NR_EOH = 0x40000
SMFIP_NR_BODY = 0x80000
SMFIP_HDR_LEADSPC = 0x100000
ALL_STEPS = 0x1FFFFF

FINAL_REPLIES = {b"c": "continue", b"a": "accept", b"r": "reject", b"t": "tempfail",
                 b"y": "replycode", b"d": "discard"}
MAX_PACKET = 1 << 20


class MilterProtocolError(RuntimeError):
    pass


@dataclass
class Reply:
    """A final reply ('c', 'a', 'r', 't', 'y', 'd') and, at EOM, the edits before it."""
    code: bytes
    data: bytes = b""
    edits: list = field(default_factory=list)  # (command byte, data)

    @property
    def kind(self) -> str:
        return FINAL_REPLIES.get(self.code, repr(self.code))

    @property
    def text(self) -> str:
        return self.data.rstrip(b"\0").decode(errors="replace")

    @property
    def tempfail(self) -> bool:
        return self.code == b"t" or (self.code == b"y" and self.text[:1] == "4")

    def __str__(self):
        return "%s %s edits=%s" % (self.kind, self.text, [e[0] for e in self.edits])


class MilterClient:
    """One milter connection. Use as a context manager."""

    def __init__(self, path: str, timeout: float = 15.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.actions = 0
        self.steps = 0
        self.symlists = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self._send(b"Q")
        except OSError:
            pass
        self.sock.close()

    # ---- packets

    def _send(self, cmd: bytes, data: bytes = b""):
        self.sock.sendall(struct.pack("!I", len(data) + 1) + cmd + data)

    def _recv_exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise MilterProtocolError("the milter closed the connection")
            buf += chunk
        return buf

    def _recv(self):
        (n,) = struct.unpack("!I", self._recv_exact(4))
        if n < 1 or n > MAX_PACKET:
            raise MilterProtocolError("bad packet length %d" % n)
        data = self._recv_exact(n)
        return data[:1], data[1:]

    def _reply(self) -> Reply:
        """Reads modification actions until a final reply."""
        edits = []
        while True:
            cmd, data = self._recv()
            if cmd in FINAL_REPLIES:
                return Reply(cmd, data, edits)
            if cmd == b"p":  # progress
                continue
            edits.append((cmd, data))

    # ---- protocol

    def negotiate(self, actions: int = ALL_ACTIONS, steps: int = ALL_STEPS):
        """OPTNEG offering actions and steps; records what the milter chose."""
        self._send(b"O", struct.pack("!III", VERSION, actions, steps))
        cmd, data = self._recv()
        if cmd != b"O" or len(data) < 12:
            raise MilterProtocolError("want an OPTNEG reply, got %r %r" % (cmd, data[:40]))
        _version, self.actions, self.steps = struct.unpack("!III", data[:12])
        rest = data[12:]
        while len(rest) >= 5:  # SMFIM stage + NUL-terminated macro list
            (stage,) = struct.unpack("!I", rest[:4])
            names, _, rest = rest[4:].partition(b"\0")
            self.symlists[stage] = names.decode()
        return self.actions, self.steps

    def macros(self, for_cmd: bytes, values: dict):
        data = b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in values.items())
        self._send(b"D", for_cmd + data)

    def _step(self, cmd: bytes, data: bytes, skip_flag: int, nr_flag: int):
        if self.steps & skip_flag:
            return None
        self._send(cmd, data)
        if self.steps & nr_flag:
            return None
        return self._reply()

    def connect(self, host: str = "client.staffel.test", addr: str = "127.0.0.1",
                port: int = 40000, macros: dict | None = None):
        if macros:
            self.macros(b"C", macros)
        data = host.encode() + b"\0" + b"4" + struct.pack("!H", port) + addr.encode() + b"\0"
        return self._step(b"C", data, SMFIP_NOCONNECT, SMFIP_NR_CONN)

    def helo(self, name: str = "client.staffel.test"):
        return self._step(b"H", name.encode() + b"\0", SMFIP_NOHELO, SMFIP_NR_HELO)

    def mail(self, sender: str, macros: dict | None = None):
        if macros:
            self.macros(b"M", macros)
        return self._step(b"M", b"<" + sender.encode() + b">\0", SMFIP_NOMAIL, SMFIP_NR_MAIL)

    def rcpt(self, rcpt: str):
        return self._step(b"R", b"<" + rcpt.encode() + b">\0", SMFIP_NORCPT, SMFIP_NR_RCPT)

    def data(self):
        return self._step(b"T", b"", SMFIP_NODATA, SMFIP_NR_DATA)

    def header(self, name: str, value: str):
        return self._step(b"L", name.encode() + b"\0" + value.encode() + b"\0", SMFIP_NOHDRS,
                          SMFIP_NR_HDR)

    def eoh(self):
        return self._step(b"N", b"", SMFIP_NOEOH, SMFIP_NR_EOH)

    def body(self, chunk: bytes):
        return self._step(b"B", chunk, SMFIP_NOBODY, SMFIP_NR_BODY)

    def eom(self, macros: dict | None = None) -> Reply:
        if macros:
            self.macros(b"E", macros)
        self._send(b"E")
        return self._reply()

    def message(self, sender: str, rcpts, headers, body: bytes, queue_id: str,
                client_addr: str = "127.0.0.1") -> Reply:
        """One whole transaction after negotiation; the EOM reply (or the first refusal)."""
        macros = {"i": queue_id, "{client_addr}": client_addr, "{client_port}": "40000",
                  "{client_name}": "client.staffel.test", "{daemon_name}": "test",
                  "j": "mta.staffel.test"}
        for step in (lambda: self.mail(sender, macros),
                     *(lambda r=r: self.rcpt(r) for r in rcpts), self.data):
            r = step()
            if r is not None and r.code != b"c":
                return r
        leadspc = self.steps & SMFIP_HDR_LEADSPC
        for name, value in headers:
            r = self.header(name, value if leadspc else value.lstrip(" "))
            if r is not None and r.code != b"c":
                return r
        for step in (self.eoh, lambda: self.body(body)):
            r = step()
            if r is not None and r.code != b"c":
                return r
        return self.eom({"i": queue_id})
