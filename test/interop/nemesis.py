#!/usr/bin/env python3
"""nemesis.py — a TCP proxy that mistreats the connections it carries, for
test/t_kbroker_torture.sh (where the kernel has no netem, this is the
network fault; where it has, both run).

    nemesis.py LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT SEED

Every accepted connection is forwarded to the target. Each chunk read in
either direction is held for 0-4 ms (a stall of 100-300 ms now and then)
before it is written on, so requests and responses arrive late and in
bursts; and with a small probability per chunk the connection is cut
abruptly both ways (SO_LINGER 0: a reset), after a request went through
and before its response came back as often as not, so clients must retry
requests whose effect they cannot know. Byte order within a connection is
kept (TCP keeps it too). Prints "listening" once ready and, on SIGTERM,
the number of connections carried and cut.
"""
import asyncio
import random
import signal
import socket
import struct
import sys

CUT_P = 0.004
STALL_P = 0.01

stats = {"conns": 0, "cuts": 0}


def reset(writer):
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


async def pump(rng, reader, writer, peer_writer, cut):
    try:
        while not cut.is_set():
            data = await reader.read(65536)
            if not data:
                break
            delay = rng.uniform(0.1, 0.3) if rng.random() < STALL_P else rng.uniform(0, 0.004)
            await asyncio.sleep(delay)
            if cut.is_set():
                break
            writer.write(data)
            await writer.drain()
            if rng.random() < CUT_P:
                stats["cuts"] += 1
                cut.set()
    except (ConnectionError, OSError):
        pass
    cut.set()
    reset(writer)
    reset(peer_writer)


async def handle(rng, target, creader, cwriter):
    stats["conns"] += 1
    try:
        treader, twriter = await asyncio.open_connection(*target)
    except OSError:
        reset(cwriter)
        return
    cut = asyncio.Event()
    await asyncio.gather(pump(rng, creader, twriter, cwriter, cut),
                         pump(rng, treader, cwriter, twriter, cut))


async def main():
    host, port, thost, tport, seed = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    rng = random.Random(seed)
    server = await asyncio.start_server(lambda r, w: handle(rng, (thost, tport), r, w), host, port,
                                        reuse_address=True)
    print("listening", flush=True)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    async with server:
        await done.wait()
    print("nemesis: %d connections, %d cut" % (stats["conns"], stats["cuts"]), flush=True)


asyncio.run(main())
