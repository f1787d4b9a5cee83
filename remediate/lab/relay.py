"""A delaying TCP relay in front of a lab host's sshd: network latency where the kernel has no netem.

One process per forwarder, standard library only (the lab runs it as `python -I -S relay.py`). It
listens on 127.0.0.1:PORT in the network namespace it starts in, then enters the host's network
namespace (setns), so every connection it opens reaches the host's sshd at 127.0.0.1:22 without a
process per connection. Both TCP legs set TCP_NODELAY, like the socat forwarder it replaces.

Delay: every chunk read from one side is written to the other side rtt/2 later, plus a uniform jitter
of +-jitter/2, so a round trip takes rtt +- jitter. A chunk is never released before the one read
before it in the same direction, so jitter never reorders bytes within a connection. The TCP
handshake itself is not delayed (the client's connect ends at the relay, on loopback): a real path
charges one more round trip per connection.

Turns: a turn is the client sending after it has been handed bytes from the server since it last
sent: the round trips a client waits for. The client's first bytes count only if the server's
arrived first (SSH's banners cross, then the client waits for the server's KEXINIT). Each connection
appends one JSON line when it opens and one when it closes, with its turns and bytes, to the log
the lab gives (--turns); the benchmark reads them after each run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import random
import socket
import time
from dataclasses import dataclass, field

CLONE_NEWNET = 0x40000000
CHUNK = 65536


@dataclass
class Delay:
    """When a chunk read now may be written on: never sooner than the chunk read before it."""

    rtt_ms: float
    jitter_ms: float = 0.0
    rng: random.Random = field(default_factory=random.Random)

    def release(self, now: float, previous: float) -> float:
        one_way = self.rtt_ms / 2 + self.rng.uniform(-self.jitter_ms / 2, self.jitter_ms / 2)
        return max(now + max(one_way, 0.0) / 1000, previous)


@dataclass
class Turns:
    """Counts the client's turns on one connection (see the module docstring)."""

    count: int = 0
    client_heard: bool = False  # server bytes handed to the client since the client last sent

    def server_delivered(self) -> None:
        self.client_heard = True

    def client_sent(self) -> None:
        if self.client_heard:
            self.count += 1
        self.client_heard = False


def setns(path: str) -> None:
    """Move this (single-threaded) process into the network namespace at path; sockets made before stay put."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


class Relay:
    def __init__(self, target: tuple[str, int], delay: Delay, turns_log: str | None):
        self.target = target
        self.delay = delay
        self.turns_log = turns_log
        self.serial = 0
        self.live: set[asyncio.Task] = set()  # asyncio keeps only weak references to tasks

    async def serve(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            client, _ = await loop.sock_accept(listener)
            task = loop.create_task(self.connection(client))
            self.live.add(task)
            task.add_done_callback(self.live.discard)

    async def connection(self, client: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        self.serial += 1
        conn_id = f"{os.getpid()}-{self.serial}"
        opened = time.time()
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        for sock in (client, server):
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        turns = Turns()
        sent = {"up": 0, "down": 0}
        self.record({"event": "open", "id": conn_id, "time": opened})
        try:
            await loop.sock_connect(server, self.target)
            await asyncio.gather(
                self.pipe(client, server, "up", sent, turns.client_sent),
                self.pipe(server, client, "down", sent, turns.server_delivered, deliver=True),
            )
        except OSError:
            pass
        finally:
            client.close()
            server.close()
            self.record(
                {"event": "close", "id": conn_id, "time": time.time(), "turns": turns.count, **sent, "opened": opened}
            )

    async def pipe(self, src, dst, name: str, sent: dict, mark, deliver: bool = False) -> None:
        """Read src, write each chunk to dst when its delay is up; `mark` on arrival (up) or on delivery (down)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        async def writer() -> None:
            while True:
                release, data = await queue.get()
                wait = release - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    with contextlib.suppress(OSError):
                        dst.shutdown(socket.SHUT_WR)
                    return
                try:
                    await loop.sock_sendall(dst, data)
                except OSError:
                    return
                sent[name] += len(data)
                if deliver:
                    mark()

        task = loop.create_task(writer())
        previous = 0.0
        try:
            while True:
                try:
                    data = await loop.sock_recv(src, CHUNK)
                except OSError:
                    data = b""
                if data and not deliver:
                    mark()
                previous = self.delay.release(loop.time(), previous)
                queue.put_nowait((previous, data))
                if not data:
                    break
            await task
        finally:
            task.cancel()

    def record(self, entry: dict) -> None:
        if self.turns_log:
            with open(self.turns_log, "a") as log:
                log.write(json.dumps(entry) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen-port", type=int, required=True)
    parser.add_argument("--netns", required=True, help="the host's network namespace, e.g. /proc/PID/ns/net")
    parser.add_argument("--target-port", type=int, default=22)
    parser.add_argument("--rtt-ms", type=float, required=True)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--turns", help="append one JSON line per connection opened and closed here")
    args = parser.parse_args(argv)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.listen_port))
    listener.listen(128)
    listener.setblocking(False)
    setns(args.netns)
    relay = Relay(("127.0.0.1", args.target_port), Delay(args.rtt_ms, args.jitter_ms), args.turns)
    asyncio.run(relay.serve(listener))


if __name__ == "__main__":
    main()
