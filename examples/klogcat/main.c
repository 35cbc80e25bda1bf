/*
 * main.c — klogcat's command line: parse the options of each mode, check
 * that every option given belongs to the chosen mode, print per-mode help,
 * and dispatch. Usage errors exit 2 with a short message.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "klogcat.h"

static const char usage_general[] =
    "Usage: klogcat -d DIR MODE [OPTIONS]   kcat-style tool for local libklog logs\n"
    "       klogcat dump FILE... [--records]\n"
    "       klogcat verify DIR [-t TOPIC]\n"
    "       klogcat adopt DIR [-c SERVER.PROPERTIES] [-X NAME=VALUE]...\n"
    "\n"
    "Modes:\n"
    "  -L                 list topics and partitions (offsets, segments, bytes)\n"
    "  --create           create topic -t with -N partitions\n"
    "  --delete           delete topic -t and all its data\n"
    "  -P                 produce: one record per input line, or per file with -l\n"
    "  -C                 consume: print records (with -G: as a group member)\n"
    "  dump FILE...       print the contents of .log/.index/.timeindex/.seal/\n"
    "                     checkpoint/klog.topics files\n"
    "  verify DIR         check every segment, index and seal of a log directory\n"
    "  adopt DIR          take over a log directory written by Apache Kafka\n"
    "\n"
    "Run 'klogcat MODE --help' (e.g. 'klogcat -C --help') for the options of a mode.\n"
    "Common options: -d DIR (log directory), -t TOPIC, -v (show library info messages).\n"
    "Exit status: 0 success, 1 failure (or problems found), 2 usage error.\n";

static const char usage_list[] =
    "Usage: klogcat -d DIR -L [-J]\n"
    "List every topic and partition: log start, high watermark, log end,\n"
    "segment count and bytes of .log data. Opens the log read-only.\n"
    "  -J                 one JSON document instead of a table\n";

static const char usage_create[] =
    "Usage: klogcat -d DIR -t TOPIC --create [-N PARTITIONS] [-X NAME=VALUE]...\n"
    "Create a topic (the directory is created if needed). -N defaults to the\n"
    "log's default partition count (1). -X sets topic configuration, persisted\n"
    "with the topic: segment.bytes, segment.ms, index.interval.bytes,\n"
    "segment.index.bytes, retention.ms, retention.bytes, max.message.bytes,\n"
    "flush.messages, flush.ms, visibility (written|flushed), compression.type.\n";

static const char usage_delete[] =
    "Usage: klogcat -d DIR -t TOPIC --delete\n"
    "Delete a topic and all its data.\n";

static const char usage_produce[] =
    "Usage: klogcat -d DIR -t TOPIC -P [-p PART] [-K DELIM] [-H NAME=VALUE]... [-z CODEC]\n"
    "                                   [-l] [FILE...]\n"
    "Append records read from FILEs (default, or '-': standard input).\n"
    "  -p PART            partition (default: by key hash, keyless round-robin)\n"
    "  -K DELIM           each line is KEY DELIM VALUE (lines without DELIM: no key)\n"
    "  -H NAME=VALUE      add this header to every record (repeatable)\n"
    "  -z CODEC           compress batches: none, lz4 (gzip, snappy, zstd if built in)\n"
    "  -l                 each FILE is one record, byte for byte\n"
    "Records are appended in batches (up to 1000 records or 1 MiB). Prints\n"
    "nothing on success; on failure records before the failing batch stay appended.\n";

static const char usage_consume[] =
    "Usage: klogcat -d DIR -t TOPIC -C [-p PART] [-o OFFSET] [-c COUNT] [-e]\n"
    "                                   [-f FORMAT | -J] [-K DELIM]\n"
    "       klogcat -d DIR -C -G GROUP -R REGISTRY [-t TOPIC]... [TOPIC...]\n"
    "                  [-o beginning|end] [-c COUNT] [-e] [-f FORMAT | -J] [-K DELIM]\n"
    "Print records. Opens the log read-only, so it can follow a writer process.\n"
    "  -p PART            only this partition (default: all, interleaved)\n"
    "  -o OFFSET          beginning (default), end, N (absolute), -N (N before the\n"
    "                     end of each partition), s@TIMESTAMP (first record at or\n"
    "                     after TIMESTAMP milliseconds)\n"
    "  -c COUNT           exit after COUNT records\n"
    "  -e                 exit when every partition is at its end (default: follow)\n"
    "  -f FORMAT          %t topic, %p partition, %o offset, %k key, %s value,\n"
    "                     %T timestamp, %h headers (n=v,...), %S value size,\n"
    "                     %K key size, %% percent; \\n \\t \\r \\\\ escapes\n"
    "  -J                 one JSON object per record\n"
    "  -K DELIM           print KEY DELIM VALUE (when no -f)\n"
    "Group mode (kcat's -G): the members of GROUP, in any processes sharing\n"
    "REGISTRY, split the partitions of the topics (every -t and TOPIC argument);\n"
    "each starts a partition at the offset the group committed for it.\n"
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
    "--records also every record), .index, .timeindex, .seal, *-checkpoint,\n"
    "klog.topics. Damage is reported with its byte position; exit 1 then.\n";

static const char usage_verify[] =
    "Usage: klogcat verify DIR [-t TOPIC]\n"
    "Check every partition and segment: batch CRCs, offsets across batches and\n"
    "segments, .index and .timeindex entries, seals (size, digest, offsets).\n"
    "Problems are printed as FILE:POSITION: problem, then a summary.\n"
    "Exit status: 0 clean (warnings allowed), 1 problems found, 2 usage error.\n";

/* Options given, as bits, to reject those that do not belong to the mode. */
enum {
    F_D = 1 << 0, F_T = 1 << 1, F_P = 1 << 2, F_N = 1 << 3, F_K = 1 << 4, F_H = 1 << 5,
    F_Z = 1 << 6, F_L = 1 << 7, F_O = 1 << 8, F_C = 1 << 9, F_E = 1 << 10, F_F = 1 << 11,
    F_J = 1 << 12, F_V = 1 << 13, F_REC = 1 << 14, F_X = 1 << 15, F_G = 1 << 16, F_R = 1 << 17
};

static const struct {
    enum kc_mode mode;
    unsigned allowed;
    unsigned required;
    const char *help;
} modes[] = {
    {KC_MODE_NONE, 0, 0, usage_general},
    {KC_MODE_LIST, F_D | F_J | F_V, F_D, usage_list},
    {KC_MODE_CREATE, F_D | F_T | F_N | F_X | F_V, F_D | F_T, usage_create},
    {KC_MODE_DELETE, F_D | F_T | F_V, F_D | F_T, usage_delete},
    {KC_MODE_PRODUCE, F_D | F_T | F_P | F_K | F_H | F_Z | F_L | F_V, F_D | F_T, usage_produce},
    {KC_MODE_CONSUME, F_D | F_T | F_P | F_O | F_C | F_E | F_F | F_J | F_K | F_V | F_G | F_R,
     F_D | F_T, usage_consume},
    {KC_MODE_DUMP, F_REC | F_V, 0, usage_dump},
    {KC_MODE_VERIFY, F_T | F_V, 0, usage_verify},
};

static const char *const flag_names[] = {"-d", "-t", "-p", "-N", "-K", "-H", "-z", "-l",
                                         "-o", "-c", "-e", "-f", "-J", "-v", "--records", "-X",
                                         "-G", "-R"};

static int parse_offset(const char *s, kc_opts_t *o)
{
    int64_t v;
    if (strcmp(s, "beginning") == 0) {
        o->start = KC_START_BEGINNING;
    } else if (strcmp(s, "end") == 0) {
        o->start = KC_START_END;
    } else if (strncmp(s, "s@", 2) == 0 && kc_parse_i64(s + 2, &v) == 0 && v >= 0) {
        o->start = KC_START_TIME, o->start_value = v;
    } else if (s[0] == '-' && kc_parse_i64(s + 1, &v) == 0 && v > 0) {
        o->start = KC_START_TAIL, o->start_value = v;
    } else if (s[0] != '-' && s[0] != '+' && kc_parse_i64(s, &v) == 0 && v >= 0) {
        o->start = KC_START_OFFSET, o->start_value = v;
    } else {
        return -1;
    }
    return 0;
}

static int set_mode(kc_opts_t *o, enum kc_mode m)
{
    if (o->mode != KC_MODE_NONE && o->mode != m)
        return kc_usage("give only one mode: -L, -P, -C, --create or --delete");
    o->mode = m;
    return 0;
}

enum { OPT_CREATE = 256, OPT_DELETE, OPT_RECORDS, OPT_VERSION };

static const struct option long_opts[] = {
    {"create", no_argument, NULL, OPT_CREATE},
    {"delete", no_argument, NULL, OPT_DELETE},
    {"records", no_argument, NULL, OPT_RECORDS},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

int main(int argc, char **argv)
{
    static kc_opts_t o; /* static: what it points to stays reachable for LSan */
    unsigned given = 0;
    int help = 0, rc;
    int64_t v;

    memset(&o, 0, sizeof o);
    o.partition = -1;
    o.count = -1;
    o.codec = KLOG_COMPRESSION_NONE;

    /* Subcommands come first: "adopt" (its own options), "dump", "verify". */
    if (argc > 1 && strcmp(argv[1], "adopt") == 0)
        return kc_adopt_main(argc - 1, argv + 1);
    int first = 1;
    if (argc > 1 && strcmp(argv[1], "dump") == 0)
        o.mode = KC_MODE_DUMP, first = 2;
    else if (argc > 1 && strcmp(argv[1], "verify") == 0)
        o.mode = KC_MODE_VERIFY, first = 2;

    o.headers = calloc((size_t)argc, sizeof *o.headers);
    o.conf = calloc((size_t)argc, sizeof *o.conf);
    o.topics = calloc((size_t)argc + 1, sizeof *o.topics);
    if (!o.headers || !o.conf || !o.topics) {
        kc_err("out of memory");
        return KC_EXIT_FAIL;
    }

    /* getopt over argv[first..]: shift so that argv[0] stays the name. */
    char **av = argv + first - 1;
    int ac = argc - first + 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(ac, av, ":d:t:p:N:K:H:z:lo:c:ef:JG:R:X:vhLPC", long_opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            o.dir = optarg, given |= F_D;
            break;
        case 't':
            if (!o.topic)
                o.topic = optarg;
            o.topics[o.ntopics++] = optarg, given |= F_T;
            break;
        case 'p':
            if (kc_parse_i64(optarg, &v) < 0 || v < 0 || v > INT32_MAX)
                return kc_usage("-p: invalid partition '%s'", optarg);
            o.partition = (int32_t)v, given |= F_P;
            break;
        case 'N':
            if (kc_parse_i64(optarg, &v) < 0 || v < 1 || v > 100000)
                return kc_usage("-N: partitions must be 1..100000, not '%s'", optarg);
            o.partitions = (int32_t)v, given |= F_N;
            break;
        case 'K':
            if (!*optarg)
                return kc_usage("-K: the delimiter must not be empty");
            o.key_delim = optarg, given |= F_K;
            break;
        case 'H': {
            char *eq = strchr(optarg, '=');
            if (!eq)
                return kc_usage("-H: expected NAME=VALUE, not '%s'", optarg);
            klog_header_t *h = &o.headers[o.header_count++];
            h->key = optarg;
            h->key_len = (int32_t)(eq - optarg);
            h->value = eq + 1;
            h->value_len = (int32_t)strlen(eq + 1);
            given |= F_H;
            break;
        }
        case 'z':
            rc = klog_compression_parse(optarg);
            if (rc < 0)
                return kc_usage("-z: unknown codec '%s'", optarg);
            if (!klog_compression_supported(rc))
                return kc_usage("-z: codec '%s' is not built into this libklog", optarg);
            o.codec = rc, given |= F_Z;
            break;
        case 'l':
            o.whole_files = 1, given |= F_L;
            break;
        case 'o':
            if (parse_offset(optarg, &o) < 0)
                return kc_usage("-o: expected beginning, end, N, -N or s@TIMESTAMP, not '%s'",
                                optarg);
            given |= F_O;
            break;
        case 'c':
            if (kc_parse_i64(optarg, &v) < 0 || v < 1)
                return kc_usage("-c: expected a positive count, not '%s'", optarg);
            o.count = v, given |= F_C;
            break;
        case 'e':
            o.exit_at_end = 1, given |= F_E;
            break;
        case 'f':
            o.format = optarg, given |= F_F;
            break;
        case 'J':
            o.json = 1, given |= F_J;
            break;
        case 'X': {
            struct kc_conf *cf = &o.conf[o.nconf];
            if (kc_conf_parse(optarg, &cf->key, &cf->value) < 0)
                return KC_EXIT_USAGE;
            o.nconf++, given |= F_X;
            break;
        }
        case 'G':
            if (!klog_topic_name_valid(optarg))
                return kc_usage("-G: invalid group name '%s' (1..249 of [a-zA-Z0-9._-])", optarg);
            o.group = optarg, given |= F_G;
            break;
        case 'R':
            if (!((strncmp(optarg, "dir:", 4) == 0 && optarg[4]) ||
                  (strncmp(optarg, "zk:", 3) == 0 && optarg[3])))
                return kc_usage("-R: expected dir:PATH or zk:HOST:PORT[/CHROOT], not '%s'",
                                optarg);
            o.registry = optarg, given |= F_R;
            break;
        case 'v':
            o.verbose = 1, given |= F_V;
            break;
        case 'h':
            help = 1;
            break;
        case 'L':
        case 'P':
        case 'C':
        case OPT_CREATE:
        case OPT_DELETE:
            if (o.mode == KC_MODE_DUMP || o.mode == KC_MODE_VERIFY)
                return kc_usage("%s takes no mode option", av[optind - 1]);
            rc = set_mode(&o, c == 'L'          ? KC_MODE_LIST
                              : c == 'P'        ? KC_MODE_PRODUCE
                              : c == 'C'        ? KC_MODE_CONSUME
                              : c == OPT_CREATE ? KC_MODE_CREATE
                                                : KC_MODE_DELETE);
            if (rc)
                return rc;
            break;
        case OPT_RECORDS:
            o.records = 1, given |= F_REC;
            break;
        case OPT_VERSION:
            printf("klogcat (libklog %s)\n", klog_version_string());
            return KC_EXIT_OK;
        case ':':
            if (optopt >= 256 || optopt == 0)
                return kc_usage("option '%s' needs an argument", av[optind - 1]);
            return kc_usage("option -%c needs an argument", optopt);
        default:
            if (optopt && optopt < 256)
                return kc_usage("unknown option -%c", optopt);
            return kc_usage("unknown option '%s'", av[optind - 1]);
        }
    }
    o.args = av + optind;
    o.nargs = ac - optind;

    size_t mi = 0;
    while (modes[mi].mode != o.mode)
        mi++;
    if (help) {
        fputs(modes[mi].help, stdout);
        return KC_EXIT_OK;
    }
    if (o.mode == KC_MODE_NONE)
        return kc_usage("no mode given (-L, -P, -C, --create, --delete, dump or verify)");

    unsigned extra = given & ~modes[mi].allowed;
    for (int i = 0; extra; i++, extra >>= 1)
        if (extra & 1)
            return kc_usage("option %s does not apply to this mode", flag_names[i]);
    unsigned required = modes[mi].required;
    if (o.mode == KC_MODE_CONSUME && o.group) {
        /* kcat's form -G GROUP TOPIC...; -t may be given (and repeated) too. */
        for (int i = 0; i < o.nargs; i++)
            o.topics[o.ntopics++] = o.args[i];
        o.nargs = 0;
        if (o.ntopics > 0)
            required &= ~(unsigned)F_T;
        if (!o.registry)
            return kc_usage("-G needs -R dir:PATH or -R zk:HOST:PORT[/CHROOT]");
        if (given & F_P)
            return kc_usage("-p cannot be combined with -G (the group assigns partitions)");
        if ((given & F_O) && o.start != KC_START_BEGINNING && o.start != KC_START_END)
            return kc_usage("-o with -G: only beginning or end (where partitions without a "
                            "committed offset start)");
    } else if (o.registry) {
        return kc_usage("-R needs -G");
    } else if (o.ntopics > 1) {
        return kc_usage("-t given more than once (several topics only with -G)");
    }
    unsigned missing = required & ~given;
    for (int i = 0; missing; i++, missing >>= 1)
        if (missing & 1)
            return kc_usage("this mode needs option %s", flag_names[i]);
    for (size_t i = 0; i < o.ntopics; i++)
        if (!klog_topic_name_valid(o.topics[i]))
            return kc_usage("-t: invalid topic name '%s'", o.topics[i]);

    switch (o.mode) {
    case KC_MODE_PRODUCE:
        break; /* FILE arguments */
    case KC_MODE_DUMP:
        if (o.nargs < 1)
            return kc_usage("dump: no FILE given");
        break;
    case KC_MODE_VERIFY:
        if (o.nargs != 1)
            return kc_usage("verify: expected exactly one DIR");
        o.dir = o.args[0];
        break;
    default:
        if (o.nargs > 0)
            return kc_usage("unexpected argument '%s'", o.args[0]);
        break;
    }
    if (o.json && o.format)
        return kc_usage("-J and -f cannot be combined");

    switch (o.mode) {
    case KC_MODE_LIST:
        rc = kc_list(&o);
        break;
    case KC_MODE_CREATE:
        rc = kc_create(&o);
        break;
    case KC_MODE_DELETE:
        rc = kc_delete(&o);
        break;
    case KC_MODE_PRODUCE:
        rc = kc_produce(&o);
        break;
    case KC_MODE_CONSUME:
        rc = kc_consume(&o);
        break;
    case KC_MODE_DUMP:
        rc = kc_dump(&o);
        break;
    case KC_MODE_VERIFY:
        rc = kc_verify(&o);
        break;
    default:
        rc = KC_EXIT_USAGE;
        break;
    }
    free(o.headers);
    free(o.conf);
    free(o.topics);
    return rc;
}
