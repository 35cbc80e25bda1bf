#!/usr/bin/env python3
"""check_layers.py -- fail when an #include crosses a wall (make check-layers).

Rules (design.md "Inside storage", README "Architecture"):
  1. lib/ layers include only their own layer and the layers below:
     platform < codec < storage < read < produce < group.
  2. Above storage, only storage's interface headers may be included
     (partition.h, segment.h, log.h, config.h); the rest is storage's own.
  3. A module-private header is included only by its module's files:
     storage/segment_impl.h by segment.c, segwrite.c, cursor.c;
     storage/partition_impl.h by partition.c, recover.c, append.c, retention.c,
     partstate.c, partition_swap.c, pstate.c; storage/logstate_impl.h by logstate.c,
     logstate_load.c; storage/log_impl.h by log.c, log_topics.c;
     produce/accum_impl.h by accum.c, accum_durable.c.
  4. No include cycle among lib/ headers.
  5. A program in examples/ includes only klog.h, headers of its own
     directory and system headers (<...> that are not libklog's own).

Usage: check_layers.py [ROOT]      check the tree at ROOT (default: .)
       check_layers.py --self-test feed the rules bad trees; each must fail
Exit status 0 when clean, 1 with one line per violation.
"""
import os
import re
import shutil
import sys
import tempfile

LAYERS = ["platform", "codec", "storage", "read", "produce", "group"]
STORAGE_PUBLIC = {"partition.h", "segment.h", "log.h", "config.h"}
PRIVATE = {
    "storage/segment_impl.h": {"segment.c", "segwrite.c", "cursor.c", "segment_impl.h"},
    "storage/partition_impl.h": {"partition.c", "recover.c", "append.c", "retention.c",
                                 "partstate.c", "partition_swap.c", "pstate.c",
                                 "partition_impl.h"},
    "storage/logstate_impl.h": {"logstate.c", "logstate_load.c", "logstate_impl.h"},
    "storage/log_impl.h": {"log.c", "log_topics.c", "log_impl.h"},
    "produce/accum_impl.h": {"accum.c", "accum_durable.c", "accum_impl.h"},
}
INC = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def includes(path):
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            m = INC.match(line)
            if m:
                out.append((n, m.group(1), m.group(2)))
    return out


def check(root):
    bad = []
    lib = os.path.join(root, "lib")
    graph = {}
    for layer in sorted(os.listdir(lib)):
        ldir = os.path.join(lib, layer)
        if not os.path.isdir(ldir):
            continue
        if layer not in LAYERS:
            bad.append("lib/%s: unknown layer (add it to LAYERS in %s)" % (layer, sys.argv[0]))
            continue
        rank = LAYERS.index(layer)
        for name in sorted(os.listdir(ldir)):
            if not name.endswith((".c", ".h")):
                continue
            rel = "%s/%s" % (layer, name)
            edges = graph.setdefault(rel, [])
            for n, kind, inc in includes(os.path.join(ldir, name)):
                where = "lib/%s:%d: #include %s" % (rel, n, inc)
                if kind == "<" or "/" not in inc:
                    continue
                top = inc.split("/", 1)[0]
                if top not in LAYERS:
                    continue
                if os.path.exists(os.path.join(lib, inc)):
                    edges.append(inc)
                if LAYERS.index(top) > rank:
                    bad.append("%s: %s includes the layer above it (%s)" % (where, layer, top))
                if top == "storage" and rank > LAYERS.index("storage") and \
                        inc.split("/", 1)[1] not in STORAGE_PUBLIC:
                    bad.append("%s: storage-private header used by %s/" % (where, layer))
                if inc in PRIVATE and not (top == layer and name in PRIVATE[inc]):
                    bad.append("%s: %s is private to its module" % (where, inc))
    # Cycles (depth-first search over header edges).
    state = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                cyc = stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt]
                bad.append("include cycle: " + " -> ".join(cyc))
            elif not state.get(nxt):
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if not state.get(node):
            visit(node, [node])
    # Examples.
    ex = os.path.join(root, "examples")
    for dirpath, _, files in os.walk(ex):
        for name in sorted(files):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            for n, kind, inc in includes(path):
                where = "%s:%d: #include %s" % (rel, n, inc)
                if inc == "klog.h":
                    continue
                top = inc.split("/", 1)[0]
                if kind == "<":
                    if top in LAYERS:
                        bad.append("%s: examples use only klog.h" % where)
                    continue
                if "/" in inc or not os.path.exists(os.path.join(dirpath, inc)):
                    bad.append("%s: examples use only klog.h and their own headers" % where)
    return bad


def self_test(root):
    """Each planted violation must be found; the pristine copy must pass."""
    cases = [
        ("lib/codec/batch.c", '#include "storage/partition.h"\n', "layer above"),
        ("lib/read/reader.c", '#include "storage/index.h"\n', "storage-private"),
        ("lib/read/lease.c", '#include "storage/segment_impl.h"\n', "private to its module"),
        ("lib/storage/log.c", '#include "storage/partition_impl.h"\n', "private to its module"),
        ("lib/storage/fdcache.h", '#include "storage/segment.h"\n', "include cycle"),
        ("examples/klogcat/dump.c", '#include "platform/bytes.h"\n', "only klog.h"),
        ("examples/klogcat/verify.c", '#include "storage/files.h"\n', "only klog.h"),
        ("examples/demo.c", '#include <storage/files.h>\n', "only klog.h"),
    ]
    failures = 0
    with tempfile.TemporaryDirectory(prefix="check_layers.") as tmp:
        for d in ("lib", "examples"):
            shutil.copytree(os.path.join(root, d), os.path.join(tmp, d))
        clean = check(tmp)
        if clean:
            print("self-test: the unmodified tree fails:\n  " + "\n  ".join(clean))
            failures += 1
        for path, line, want in cases:
            target = os.path.join(tmp, path)
            with open(target, encoding="utf-8") as f:
                orig = f.read()
            # After the first include, so header guards stay in front.
            i = orig.find("#include")
            planted = orig[:i] + line + orig[i:] if i >= 0 else line + orig
            with open(target, "w", encoding="utf-8") as f:
                f.write(planted)
            found = check(tmp)
            with open(target, "w", encoding="utf-8") as f:
                f.write(orig)
            if not any(want in b for b in found):
                print("self-test: %s in %s was not reported (%s)" % (line.strip(), path, found))
                failures += 1
            else:
                print("self-test: caught %s in %s" % (line.strip(), path))
    return failures


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--self-test":
        root = sys.argv[2] if len(sys.argv) > 2 else "."
        return 1 if self_test(root) else 0
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    bad = check(root)
    for b in bad:
        print(b)
    if not bad:
        print("check-layers: no include crosses a wall")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
