#!/usr/bin/env python3
"""A zsm handoff worker in plain Python 3 (3.9+, standard library only).

It speaks the zsm worker protocol, version 1 (activation/PROTOCOL.md):
the broker hands it accepted connections over the channel named by
ZSM_CHANNEL_FD and it answers each with a minimal HTTP/1.1 response,
"hello from python", then tells the broker DONE=1. When the broker ends
the channel it finishes the connections it holds and exits 0. On SIGTERM
before that it sends STOPPING=1 and keeps serving until the broker ends
the channel; after it, SIGTERM ends it at once (the broker sends SIGTERM
only when the worker is still running after the site's stop timeout).

Site configuration:

    site "hello-py" {
      listen  = ["127.0.0.1:8081"]
      mode    = "handoff"
      command = ["python3", "contrib/workers/python/hello_worker.py"]
    }

HELLO_SLOTS (default 4) sets how many connections it takes at once; each
one is served on its own thread.
"""

import os
import re
import signal
import socket
import sys
import threading

PROTOCOL = "1"
MAX_MESSAGE = 4096
KEY = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
NUMBER = re.compile(r"[1-9][0-9]*")
BODY = b"hello from python\n"


class ProtocolError(Exception):
    pass


def log(message):
    print("hello_worker[%d]: %s" % (os.getpid(), message), file=sys.stderr, flush=True)


def parse(data):
    """Decodes one datagram (PROTOCOL.md section 2) into a dict, strictly."""
    if data.endswith(b"\n"):
        data = data[:-1]
    # The limit counts a final line feed, sent or not.
    if not data or len(data) + 1 > MAX_MESSAGE:
        raise ProtocolError("datagram of %d bytes" % len(data))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("datagram is not UTF-8") from None
    fields = {}
    for line in text.split("\n"):  # LF only, never str.splitlines()
        key, sep, value = line.partition("=")
        if not sep:
            raise ProtocolError("line %r has no '='" % line)
        if not KEY.fullmatch(key):
            raise ProtocolError("bad key %r" % key)
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            raise ProtocolError("control character in %s" % key)
        if key in fields:
            raise ProtocolError("duplicate key %s" % key)
        fields[key] = value
    return fields


def send(channel, *fields):
    """Sends one datagram of KEY=VALUE lines; a gone broker is not an error."""
    data = "".join("%s=%s\n" % kv for kv in fields).encode("utf-8")
    try:
        channel.send(data)
    except OSError:
        pass  # EPIPE, ECONNRESET...: the broker ended the channel


def answer(conn):
    """Reads one HTTP request head and answers it, then closes (no keep-alive)."""
    request = b""
    while b"\r\n\r\n" not in request:
        chunk = conn.recv(4096)
        if not chunk or len(request) > 65536:
            return  # the client went away, or a head too large to care about
        request += chunk
    conn.sendall(
        b"HTTP/1.1 200 OK\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Length: %d\r\n"
        b"Connection: close\r\n"
        b"\r\n" % len(BODY) + BODY
    )
    conn.shutdown(socket.SHUT_WR)


def serve(channel, conn, conn_id):
    try:
        with conn:  # closes the descriptor we own
            conn.setblocking(True)  # its O_NONBLOCK state is unspecified
            conn.settimeout(30)
            answer(conn)
    except OSError as e:
        log("connection %s: %s" % (conn_id, e))
    finally:
        send(channel, ("DONE", "1"), ("ID", conn_id))


def close_all(fds):
    for fd in fds:
        os.close(fd)


def main():
    version = os.environ.pop("ZSM_PROTOCOL", None)
    fd_text = os.environ.pop("ZSM_CHANNEL_FD", None)
    if fd_text is None:
        log("ZSM_CHANNEL_FD is not set: start me from a zsm handoff site")
        return 2
    if version != PROTOCOL:
        log("zsm protocol %r is not supported (this worker speaks %s)" % (version, PROTOCOL))
        return 2
    fd = int(fd_text)
    os.set_inheritable(fd, False)
    channel = socket.socket(fileno=fd)
    if channel.family != socket.AF_UNIX or channel.type != socket.SOCK_SEQPACKET:
        log("ZSM_CHANNEL_FD=%d is not a unix SOCK_SEQPACKET socket" % fd)
        return 2
    channel.setblocking(True)

    def on_sigterm(signum, frame):
        # Keep reading: connections in flight still arrive before end of file.
        send(channel, ("STOPPING", "1"))

    signal.signal(signal.SIGTERM, on_sigterm)

    slots = int(os.environ.get("HELLO_SLOTS", "4"))
    send(channel, ("READY", "1"), ("SLOTS", str(slots)), ("STATUS", "serving"))

    status = 0
    threads = []
    while True:
        data, fds, flags, _ = socket.recv_fds(channel, MAX_MESSAGE + 1, 1, socket.MSG_CMSG_CLOEXEC)
        if not data:
            if fds:
                close_all(fds)
                log("empty datagram with descriptors")
                status = 1
            break  # end of file: nothing more will come
        try:
            if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
                raise ProtocolError("datagram or descriptors cut short")
            fields = parse(data)
            if "CONN" not in fields:
                close_all(fds)  # not a version 1 message: ignored
                continue
            if fields["CONN"] != "1" or len(fds) != 1:
                raise ProtocolError("CONN=%r with %d descriptors" % (fields["CONN"], len(fds)))
            conn_id = fields.get("ID", "")
            if not NUMBER.fullmatch(conn_id) or int(conn_id) >= 2**64:
                raise ProtocolError("bad ID %r" % conn_id)
            if "LISTENER" not in fields or "PEER" not in fields:
                raise ProtocolError("CONN without LISTENER or PEER")
        except ProtocolError as e:
            close_all(fds)
            log("broker broke the protocol: %s" % e)
            status = 1
            break
        conn = socket.socket(fileno=fds[0])
        thread = threading.Thread(target=serve, args=(channel, conn, conn_id))
        thread.start()
        threads = [t for t in threads if t.is_alive()] + [thread]

    # The broker sends SIGTERM only after the stop timeout: from now on it
    # means "exit now", not "stop taking connections" (PROTOCOL.md, section 3).
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for thread in threads:  # finish what we hold, then exit
        thread.join()
    channel.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
