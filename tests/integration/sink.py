#!/usr/bin/python3
"""sink.py - a capture SMTP server for Staffel's integration tests.

Purpose: stands in for "the rest of the Internet". Postfix relays to it;
  it accepts every MAIL FROM and RCPT TO and stores each message exactly as
  it arrived, so tests can compare bytes.
Usage: sink.py --port 0 --dir DIR [--bind 127.0.0.1] [--max-seconds N]
  Prints "PORT <n>" on stdout (one line, flushed) once it listens.
Output: for message number N (from 1) it writes DIR/NNNNNN.eml, the raw
  DATA bytes dot-unstuffed with line ends kept exactly as received, then
  DIR/NNNNNN.json with {"mail_from", "mail_params", "rcpts", "helo", "peer",
  "size", "time"}. The .json is written last (atomically, by rename), so a
  reader that counts .json files never sees a half-written message.
Trust: it listens on loopback only; input is bounded (line length 64 KiB,
  message size 64 MiB, 1000 recipients) and a session times out after 60 s.
Failure: a malformed command gets a 5xx reply, never a crash. The process
  exits on SIGTERM/SIGINT, and by itself after --max-seconds (default 3600)
  so that a leaked sink cannot live forever.
Standard library only; run with /usr/bin/python3.
"""
import argparse
import json
import os
import signal
import socket
import socketserver
import sys
import threading
import time

MAX_LINE = 64 * 1024
MAX_MESSAGE = 64 * 1024 * 1024
MAX_RCPTS = 1000


class Store:
    """Numbers and writes captured messages; thread-safe."""

    def __init__(self, directory):
        self.directory = directory
        self.lock = threading.Lock()
        self.count = 0

    def save(self, data, meta):
        with self.lock:
            self.count += 1
            n = self.count
        base = os.path.join(self.directory, "%06d" % n)
        with open(base + ".eml.tmp", "wb") as f:
            f.write(data)
        os.rename(base + ".eml.tmp", base + ".eml")
        with open(base + ".json.tmp", "w") as f:
            json.dump(meta, f, indent=1)
        os.rename(base + ".json.tmp", base + ".json")
        return n


class Handler(socketserver.StreamRequestHandler):
    timeout = 60

    def reply(self, text):
        self.wfile.write(text.encode("ascii") + b"\r\n")
        self.wfile.flush()

    def readline(self):
        line = self.rfile.readline(MAX_LINE + 1)
        if not line:
            raise EOFError
        if len(line) > MAX_LINE:
            raise ValueError("line too long")
        return line

    def handle(self):
        store = self.server.store
        helo = None
        mail_from = None
        mail_params = []
        rcpts = []
        try:
            self.reply("220 sink.staffel.test ESMTP capture sink")
            while True:
                line = self.readline()
                text = line.decode("latin-1").rstrip("\r\n")
                verb, _, arg = text.partition(" ")
                verb = verb.upper()
                if verb == "EHLO":
                    helo = arg
                    mail_from, mail_params, rcpts = None, [], []
                    self.wfile.write(
                        b"250-sink.staffel.test\r\n250-PIPELINING\r\n250-SIZE 67108864\r\n"
                        b"250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n")
                    self.wfile.flush()
                elif verb == "HELO":
                    helo = arg
                    mail_from, mail_params, rcpts = None, [], []
                    self.reply("250 sink.staffel.test")
                elif verb == "MAIL":
                    if not arg.upper().startswith("FROM:"):
                        self.reply("501 5.5.4 Syntax: MAIL FROM:<address>")
                        continue
                    path, params = split_path(arg[5:])
                    mail_from, mail_params, rcpts = path, params, []
                    self.reply("250 2.1.0 Ok")
                elif verb == "RCPT":
                    if mail_from is None:
                        self.reply("503 5.5.1 Error: need MAIL command")
                        continue
                    if not arg.upper().startswith("TO:"):
                        self.reply("501 5.5.4 Syntax: RCPT TO:<address>")
                        continue
                    if len(rcpts) >= MAX_RCPTS:
                        self.reply("452 4.5.3 Error: too many recipients")
                        continue
                    rcpts.append(split_path(arg[3:])[0])
                    self.reply("250 2.1.5 Ok")
                elif verb == "DATA":
                    if not rcpts:
                        self.reply("503 5.5.1 Error: need RCPT command")
                        continue
                    self.reply("354 End data with <CR><LF>.<CR><LF>")
                    data = self.read_data()
                    if data is None:
                        self.reply("552 5.3.4 Error: message too big")
                    else:
                        meta = {
                            "mail_from": mail_from,
                            "mail_params": mail_params,
                            "rcpts": rcpts,
                            "helo": helo,
                            "peer": "%s:%d" % self.client_address[:2],
                            "size": len(data),
                            "time": time.time(),
                        }
                        n = store.save(data, meta)
                        self.reply("250 2.0.0 Ok: captured as %06d" % n)
                    mail_from, mail_params, rcpts = None, [], []
                elif verb == "RSET":
                    mail_from, mail_params, rcpts = None, [], []
                    self.reply("250 2.0.0 Ok")
                elif verb == "NOOP":
                    self.reply("250 2.0.0 Ok")
                elif verb == "QUIT":
                    self.reply("221 2.0.0 Bye")
                    return
                else:
                    self.reply("502 5.5.2 Error: command not recognized")
        except (EOFError, ConnectionError, socket.timeout, ValueError):
            return

    def read_data(self):
        """Reads DATA up to the lone dot; returns the unstuffed bytes or None if too big."""
        chunks = []
        size = 0
        too_big = False
        while True:
            line = self.readline_unbounded()
            if line in (b".\r\n", b".\n"):
                break
            if line.startswith(b"."):
                line = line[1:]
            size += len(line)
            if size > MAX_MESSAGE:
                too_big = True
                chunks = []
            if not too_big:
                chunks.append(line)
        return None if too_big else b"".join(chunks)

    def readline_unbounded(self):
        # A data line may be longer than MAX_LINE (RFC 5322 forbids it, but
        # tests may send one on purpose); read it in pieces, keep the bytes.
        parts = []
        while True:
            piece = self.rfile.readline(MAX_LINE)
            if not piece:
                raise EOFError
            parts.append(piece)
            if piece.endswith(b"\n"):
                return b"".join(parts)


def split_path(text):
    """'<a@b> SIZE=1 BODY=8BITMIME' -> ('a@b', ['SIZE=1', 'BODY=8BITMIME'])."""
    text = text.strip()
    if text.startswith("<"):
        end = text.find(">")
        if end < 0:
            return text[1:], []
        return text[1:end], text[end + 1:].split()
    fields = text.split()
    return (fields[0] if fields else ""), fields[1:]


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--max-seconds", type=float, default=3600.0)
    args = ap.parse_args()
    if args.bind not in ("127.0.0.1", "::1"):
        ap.error("the sink only listens on loopback")
    os.makedirs(args.dir, exist_ok=True)

    server = Server((args.bind, args.port), Handler)
    server.store = Store(args.dir)
    print("PORT %d" % server.server_address[1], flush=True)

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    timer = threading.Timer(args.max_seconds, stop)
    timer.daemon = True
    timer.start()
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
