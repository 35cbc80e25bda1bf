#!/bin/sh
# t_group_zk.sh — the multi-process consumer-group scenario of
# t_group_dir.sh over a real ZooKeeper server (Debian's zookeeper package,
# started on a free 127.0.0.1 port by $KLOG_BUILD/test/group_zkserver and
# stopped after). Skips (77) when the package or the ZooKeeper support in
# the library is missing.
B=${KLOG_BUILD:-build}
if [ ! -f /usr/include/zookeeper/zookeeper.h ]; then
    echo "SKIP: libklog built without ZooKeeper (install libzookeeper-mt-dev)"
    exit 77
fi
if [ ! -f /usr/share/java/zookeeper.jar ] || [ ! -x /usr/bin/java ]; then
    echo "SKIP: ZooKeeper server missing (install the Debian package zookeeper)"
    exit 77
fi
GROUP_BACKEND=zk
. "$(dirname "$0")/t_group_dir.sh"
