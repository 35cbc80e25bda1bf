/*
 * usage.c — klogcat's help texts: the general one and one per mode
 * (klogcat -h, klogcat MODE -h). The man page, klogcat.1, says the same
 * at length.
 */
#include "klogcat.h"

static const char usage_general[] =
    "Usage: klogcat -d DIR MODE [OPTIONS]   kcat-style tool for local libklog logs\n"
    "       klogcat dump FILE... [--records]\n"
    "       klogcat verify DIR [-t TOPIC]\n"
    "       klogcat backup DIR DEST\n"
    "       klogcat compact DIR [-t TOPIC [-p PARTITION]]\n"
    "       klogcat adopt DIR [-c SERVER.PROPERTIES] [-X NAME=VALUE]...\n"
    "\n"
    "Modes:\n"
    "  -L                 list topics and partitions (offsets, segments, bytes)\n"
    "  --create           create topic -t with -N partitions\n"
    "  --delete           delete topic -t and all its data\n"
    "  -P                 produce: one record per line of standard input (-D), or\n"
    "                     per FILE argument (split by -D too with -l)\n"
    "  -C                 consume: print records (with -G: as a group member)\n"
    "  dump FILE...       print the contents of .log/.index/.timeindex/.seal/\n"
    "                     .snapshot/.txnindex/checkpoint/klog.topics/klog.state/\n"
    "                     klog.producer-ids/registry files\n"
    "  verify DIR         check every segment, index and seal of a log directory\n"
    "  backup DIR DEST    copy a live log to the new directory DEST (a snapshot)\n"
    "  compact DIR        clean compacted topics now (latest record per key)\n"
    "  adopt DIR          take over a log directory written by Apache Kafka\n"
    "Admin modes:\n"
    "  --alter            change topic -t: configuration (-X), partitions (-N)\n"
    "  --delete-records   make the records of -t before -o OFFSET unreadable\n"
    "  --retention        apply retention to every partition now\n"
    "  --stats            per partition: offsets, segments, bytes, last append\n"
    "  --groups           list the consumer groups of registry -R\n"
    "  --describe         group -G: committed offsets, lag and owner per partition\n"
    "  --reset-offsets    group -G: set committed offsets (-o, --shift-by)\n"
    "  --delete-group     group -G: delete its committed offsets\n"
    "\n"
    "Run 'klogcat MODE --help' (e.g. 'klogcat -C --help') for the options of a mode.\n"
    "Common options: -d DIR (log directory), -t TOPIC, -v (show library info\n"
    "messages), -q (quiet: errors only, no progress line).\n"
    "Where klogcat differs from kcat: -d is the log directory (kcat: debug\n"
    "contexts), -X NAME=VALUE is topic configuration (kcat: librdkafka settings),\n"
    "-R names the group registry; there is no broker (-b).\n"
    "Exit status: 0 success, 1 failure (or problems found), 2 usage error.\n";

static const char usage_list[] =
    "Usage: klogcat -d DIR -L [-t TOPIC] [-J]\n"
    "List every topic (or only -t) and partition: log start, high watermark,\n"
    "log end, segment count and bytes of .log data. Opens the log read-only.\n"
    "  -t TOPIC           only this topic\n"
    "  -J                 one JSON document instead of a table\n";

static const char usage_create[] =
    "Usage: klogcat -d DIR -t TOPIC --create [-N PARTITIONS] [-X NAME=VALUE]... [--force]\n"
    "Create a topic (the directory is created if needed). -N defaults to the\n"
    "log's default partition count (1). -X sets topic configuration, persisted\n"
    "with the topic: segment.bytes, segment.ms, index.interval.bytes,\n"
    "segment.index.bytes, retention.ms, retention.bytes, max.message.bytes,\n"
    "flush.messages, flush.ms, visibility (written|flushed), compression.type.\n"
    "  --force            make DIR a log directory even though it is not empty\n"
    "                     and holds no libklog files (refused otherwise)\n";

static const char usage_delete[] =
    "Usage: klogcat -d DIR -t TOPIC --delete\n"
    "Delete a topic and all its data.\n";

static const char usage_produce[] =
    "Usage: klogcat -d DIR -t TOPIC -P [-p PART] [-K DELIM | -k KEY] [-D DELIM]\n"
    "                  [-H NAME=VALUE]... [-z CODEC] [-c COUNT] [-l] [-T] [-Z] [FILE...]\n"
    "Append records. Standard input is split into one record per -D delimiter\n"
    "(default newline); each FILE argument is one record, byte for byte, as in\n"
    "kcat ('-' is standard input), unless -l splits files too.\n"
    "  -p PART            partition (default, or -1: by key hash, keyless batches\n"
    "                     round-robin)\n"
    "  -K DELIM           each record is KEY DELIM VALUE (without DELIM: no key)\n"
    "  -k KEY             the key of every record\n"
    "  -D DELIM           record delimiter (default \\n)\n"
    "  -H NAME=VALUE      add this header to every record (repeatable)\n"
    "  -z CODEC           compress batches: none, lz4 (gzip, snappy, zstd if built in);\n"
    "                     default: the topic's compression.type\n"
    "  -c COUNT           stop after COUNT records\n"
    "  -l                 split FILE arguments by -D as standard input is\n"
    "  -T                 tee: also write each record to standard output\n"
    "  -Z                 empty keys and values are stored as null\n"
    "Delimiters take the escapes \\n \\t \\r \\\\ \\0 \\xNN. Records are appended in\n"
    "batches (up to 1000 records or 1 MiB, never more than the topic's\n"
    "max.message.bytes nor what fits in a segment of segment.bytes). Prints\n"
    "nothing on success (a progress line when standard error is a terminal);\n"
    "on failure records before the failing batch stay appended.\n";

static const char usage_consume[] =
    "Usage: klogcat -d DIR -t TOPIC -C [-p PART] [-o OFFSET]... [-c COUNT] [-e] [-E]\n"
    "                  [-f FORMAT | -J] [-K DELIM] [-D DELIM] [-Z] [-u]\n"
    "       klogcat -d DIR -C -G GROUP -R REGISTRY [-t TOPIC]... [TOPIC...]\n"
    "                  [-o beginning|end|stored] [-c COUNT] [-e] [-f FORMAT | -J] [-K DELIM]\n"
    "Print records. Opens the log read-only, so it can follow a writer process.\n"
    "  -p PART            only this partition (default, or -1: all, interleaved)\n"
    "  -o OFFSET          beginning (default), end, N (absolute), -N (N before the\n"
    "                     end of each partition), s@TIMESTAMP (first record at or\n"
    "                     after TIMESTAMP milliseconds); e@TIMESTAMP stops each\n"
    "                     partition at its first record at or after TIMESTAMP (give\n"
    "                     -o twice for both). A partition where N is out of range\n"
    "                     says so and starts at its end; the others are consumed\n"
    "  -c COUNT           exit after COUNT records\n"
    "  -e                 exit when every partition is at its end (default: follow)\n"
    "  -E                 a partition that fails to read is reported and dropped;\n"
    "                     the others go on (default: exit 1)\n"
    "  -f FORMAT          %t topic, %p partition, %o offset, %k key, %s value,\n"
    "                     %T timestamp, %h headers (n=v,...), %S value size,\n"
    "                     %K key size, %R value size as 4 bytes big-endian, %%\n"
    "                     percent; \\n \\t \\r \\\\ \\0 \\xNN escapes\n"
    "  -J                 one JSON object per record\n"
    "  -K DELIM           print KEY DELIM VALUE (when no -f)\n"
    "  -D DELIM           written after each record (when no -f; default \\n)\n"
    "  -Z                 print null keys and values as NULL\n"
    "  -u                 unbuffered output\n"
    "Group mode (kcat's -G): the members of GROUP, in any processes sharing\n"
    "REGISTRY, split the partitions of the topics (every -t and TOPIC argument);\n"
    "each starts a partition at the offset the group committed for it\n"
    "(-o stored, the default).\n"
    "  -G GROUP           consume as a member of GROUP\n"
    "  -R REGISTRY        where the group lives: dir:PATH (processes of one host)\n"
    "                     or zk:HOST:PORT[/CHROOT] (ZooKeeper, when built in)\n"
    "  -o beginning|end   where partitions the group never committed start\n"
    "  -e                 exit when every partition assigned to this member is at\n"
    "                     its end (a member assigned none keeps waiting)\n"
    "  -v                 also print joins, partitions assigned and released\n"
    "Offsets of printed records are committed every 5 s, when a partition moves\n"
    "to another member, and on exit (-c, -e, SIGINT, SIGTERM): the group's next\n"
    "run continues where this one stopped.\n";

static const char usage_dump[] =
    "Usage: klogcat dump FILE... [--records]\n"
    "Print a file of a log directory, chosen by its name: .log (batch headers;\n"
    "--records also every record), .index, .timeindex, .seal, .snapshot\n"
    "(producer state), .txnindex (aborted transactions), *-checkpoint (also\n"
    "leader-epoch-checkpoint), klog.topics, klog.state, klog.producer-ids;\n"
    "and by its magic: a directory registry's committed-offset and topic\n"
    "files. Damage is reported with its byte position; exit 1 then.\n";

static const char usage_backup[] =
    "Usage: klogcat backup DIR DEST\n"
    "Copy the log at DIR to the new directory DEST as a consistent snapshot at\n"
    "each partition's high watermark, while writers may keep appending. The\n"
    "copy opens with no recovery scan. Prints each partition's offsets copied.\n"
    "Exit status: 0 copied, 1 failure, 2 usage error.\n";

static const char usage_compact[] =
    "Usage: klogcat compact DIR [-t TOPIC [-p PARTITION]]\n"
    "Run the log cleaner now, as Kafka's does for topics with\n"
    "cleanup.policy=compact: each key keeps its latest record, tombstones stay\n"
    "for delete.retention.ms, offsets never change, the active segment is left\n"
    "alone. With -t: every partition of TOPIC (or only -p), whatever its dirty\n"
    "ratio; without: the dirtiest partitions above min.cleanable.dirty.ratio,\n"
    "until none is left. Takes the log's lock: no writer may hold it. Prints\n"
    "one line per pass.\n"
    "Exit status: 0 done (also when nothing was to clean), 1 failure, 2 usage\n"
    "error.\n";

static const char usage_verify[] =
    "Usage: klogcat verify DIR [-t TOPIC]\n"
    "Check every partition and segment: batch CRCs, offsets across batches and\n"
    "segments, .index and .timeindex entries, seals (size, digest, offsets).\n"
    "Safe beside a writer: each partition is checked up to its high watermark.\n"
    "Problems are printed as FILE:POSITION: problem, then a summary.\n"
    "Exit status: 0 clean (warnings allowed), 1 problems found, 2 usage error,\n"
    "3 only recoverable problems (a crash's torn tail: the next read-write open\n"
    "truncates it).\n";

static const char usage_alter[] =
    "Usage: klogcat -d DIR -t TOPIC --alter [-X NAME=VALUE]... [-N PARTITIONS]\n"
    "Change a topic (kafka-configs --alter, kafka-topics --alter --partitions):\n"
    "  -X NAME=VALUE      set topic configuration (names as for --create);\n"
    "                     NAME=default removes the topic's own value\n"
    "  -N PARTITIONS      grow the topic to PARTITIONS partitions (never fewer)\n"
    "Needs the directory to itself (no writer process holding it).\n";

static const char usage_delete_records[] =
    "Usage: klogcat -d DIR -t TOPIC --delete-records -o OFFSET [-p PART]\n"
    "Advance the log start (kafka-delete-records): records before OFFSET become\n"
    "unreadable and whole segments before it are deleted. OFFSET: N, end (all\n"
    "records), or s@TIMESTAMP (records before that time). Every partition, or -p.\n"
    "Needs the directory to itself (no writer process holding it).\n";

static const char usage_retention[] =
    "Usage: klogcat -d DIR --retention\n"
    "Apply retention.ms and retention.bytes to every partition now (whole\n"
    "segments, never the active one) and print how many segments went.\n"
    "Needs the directory to itself (no writer process holding it).\n";

static const char usage_stats[] =
    "Usage: klogcat -d DIR --stats [-t TOPIC] [-J]\n"
    "Per partition: log start, high watermark, log end, records, segments, bytes\n"
    "of .log data, bytes of index files, the time of the last append (the\n"
    "newest batch's max timestamp) and the descriptors the writer process has\n"
    "open on the partition's files (-1: no writer). Read-only: runs beside a writer.\n";

static const char usage_groups[] =
    "Usage: klogcat -R dir:PATH --groups [-J]\n"
    "List the consumer groups of a directory registry with their live members.\n";

static const char usage_describe[] =
    "Usage: klogcat -d DIR -R REGISTRY -G GROUP --describe [-t TOPIC]... [-J]\n"
    "Per partition of every topic (or of each -t): the group's committed offset,\n"
    "log start, high watermark, lag (high watermark - committed offset) and\n"
    "current owner; then the live members. Partitions the group never committed\n"
    "nor owns are left out unless their topic is given with -t.\n";

static const char usage_reset[] =
    "Usage: klogcat -d DIR -R REGISTRY -G GROUP --reset-offsets -t TOPIC... [-p PART]\n"
    "                  (-o earliest|latest|N|s@TIMESTAMP | --shift-by N)\n"
    "Set the group's committed offsets (kafka-consumer-groups --reset-offsets):\n"
    "to the log start, the high watermark, offset N, the first record at or\n"
    "after TIMESTAMP, or the committed offset moved by N (negative: back),\n"
    "each kept within the partition's log start and high watermark. Refused\n"
    "while the group has live members. Prints each partition's old and new offset.\n";

static const char usage_delete_group[] =
    "Usage: klogcat -R dir:PATH -G GROUP --delete-group\n"
    "Delete a group's committed offsets (and the dead entries it left) from a\n"
    "directory registry. Refused while the group has live members.\n";

const char *kc_mode_help(enum kc_mode m)
{
    switch (m) {
    case KC_MODE_LIST:
        return usage_list;
    case KC_MODE_CREATE:
        return usage_create;
    case KC_MODE_DELETE:
        return usage_delete;
    case KC_MODE_PRODUCE:
        return usage_produce;
    case KC_MODE_CONSUME:
        return usage_consume;
    case KC_MODE_DUMP:
        return usage_dump;
    case KC_MODE_VERIFY:
        return usage_verify;
    case KC_MODE_BACKUP:
        return usage_backup;
    case KC_MODE_COMPACT:
        return usage_compact;
    case KC_MODE_ALTER:
        return usage_alter;
    case KC_MODE_DELETE_RECORDS:
        return usage_delete_records;
    case KC_MODE_RETENTION:
        return usage_retention;
    case KC_MODE_STATS:
        return usage_stats;
    case KC_MODE_GROUPS:
        return usage_groups;
    case KC_MODE_DESCRIBE:
        return usage_describe;
    case KC_MODE_RESET:
        return usage_reset;
    case KC_MODE_DELETE_GROUP:
        return usage_delete_group;
    case KC_MODE_NONE:
        break;
    }
    return usage_general;
}
