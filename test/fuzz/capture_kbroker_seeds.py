"""Add fuzz_kbroker seeds from the raw-protocol test scripts.

Run from the repository root with a kbroker listening on HOST:PORT:
    kbroker -d DIR -l HOST:0 --topic-default retention.ms=7200000  # then, its port:
    /usr/bin/python3 test/fuzz/capture_kbroker_seeds.py HOST PORT
Runs test/interop/kbroker_versions.py (flex), kbroker_groups_raw.py and
kbroker_admin.py against it with socket sends recorded, and writes each
connection's byte stream (fuzz_kbroker's stream form: it starts with a
size prefix, whose first byte is 0) to test/fuzz/corpus/fuzz_kbroker/
as capture_<script>_<n>. These cover the flexible versions, the group
coordinator and the admin requests, which make_corpus_fuzz_kbroker.py's
kcat sessions and hand-built requests do not.
"""
import os
import runpy
import socket
import sys

OUT = "test/fuzz/corpus/fuzz_kbroker"
HOST, PORT = sys.argv[1], sys.argv[2]
streams = {}
orig = socket.socket.sendall


def sendall(self, data, *args):
    streams.setdefault(id(self), bytearray()).extend(data)
    return orig(self, data, *args)


socket.socket.sendall = sendall
for script, args in (("kbroker_versions.py", ["flex", HOST, PORT]),
                     ("kbroker_groups_raw.py", [HOST, PORT]),
                     ("kbroker_admin.py", [HOST, PORT])):
    streams.clear()
    sys.argv = [script] + args
    try:
        runpy.run_path(os.path.join("test/interop", script), run_name="__main__")
    except SystemExit as e:
        if e.code:
            sys.exit("%s failed" % script)
    n = 0
    for data in streams.values():
        if 0 < len(data) <= 65536 and data[0] == 0:
            with open(os.path.join(OUT, "capture_%s_%d" % (script[:-3], n)), "wb") as f:
                f.write(bytes(data))
            n += 1
    print("%s: %d streams" % (script, n))
