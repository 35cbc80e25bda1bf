/*
 * main.c — klogcat's command line: parse the options of each mode, check
 * that every option given belongs to the chosen mode, print per-mode help
 * (the texts are in usage.c), and dispatch. Usage errors exit 2 with a short message.
 */
#include <getopt.h>
#include <signal.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "klogcat.h"

/* Options given, as bits, to reject those that do not belong to the mode. */
enum {
    F_D = 1 << 0, F_T = 1 << 1, F_P = 1 << 2, F_N = 1 << 3, F_K = 1 << 4, F_H = 1 << 5,
    F_Z = 1 << 6, F_L = 1 << 7, F_O = 1 << 8, F_C = 1 << 9, F_E = 1 << 10, F_F = 1 << 11,
    F_J = 1 << 12, F_V = 1 << 13, F_REC = 1 << 14, F_X = 1 << 15, F_G = 1 << 16, F_R = 1 << 17,
    F_DL = 1 << 18, F_KEY = 1 << 19, F_TEE = 1 << 20, F_NULL = 1 << 21, F_Q = 1 << 22,
    F_U = 1 << 23, F_KEEP = 1 << 24, F_FORCE = 1 << 25, F_SHIFT = 1 << 26
};

static const char *const flag_names[] = {
    "-d", "-t", "-p", "-N", "-K", "-H", "-z", "-l", "-o", "-c", "-e", "-f", "-J", "-v",
    "--records", "-X", "-G", "-R", "-D", "-k", "-T", "-Z", "-q", "-u", "-E", "--force",
    "--shift-by"};

#define F_COMMON (F_V | F_Q)

static const struct {
    enum kc_mode mode;
    unsigned allowed;
    unsigned required;
} modes[] = {
    {KC_MODE_NONE, 0, 0},
    {KC_MODE_LIST, F_D | F_J | F_T | F_COMMON, F_D},
    {KC_MODE_CREATE, F_D | F_T | F_N | F_X | F_FORCE | F_COMMON, F_D | F_T},
    {KC_MODE_DELETE, F_D | F_T | F_COMMON, F_D | F_T},
    {KC_MODE_PRODUCE,
     F_D | F_T | F_P | F_K | F_H | F_Z | F_L | F_C | F_DL | F_KEY | F_TEE | F_NULL | F_U |
         F_COMMON,
     F_D | F_T},
    {KC_MODE_CONSUME,
     F_D | F_T | F_P | F_O | F_C | F_E | F_F | F_J | F_K | F_G | F_R | F_DL | F_NULL | F_U |
         F_KEEP | F_COMMON,
     F_D | F_T},
    {KC_MODE_DUMP, F_REC | F_COMMON, 0},
    {KC_MODE_VERIFY, F_T | F_COMMON, 0},
    {KC_MODE_BACKUP, F_COMMON, 0},
    {KC_MODE_COMPACT, F_T | F_P | F_COMMON, 0},
    {KC_MODE_ALTER, F_D | F_T | F_X | F_N | F_J | F_COMMON, F_D | F_T},
    {KC_MODE_DELETE_RECORDS, F_D | F_T | F_P | F_O | F_J | F_COMMON, F_D | F_T | F_O},
    {KC_MODE_RETENTION, F_D | F_J | F_COMMON, F_D},
    {KC_MODE_STATS, F_D | F_T | F_J | F_COMMON, F_D},
    {KC_MODE_GROUPS, F_D | F_R | F_J | F_COMMON, F_R},
    {KC_MODE_DESCRIBE, F_D | F_R | F_G | F_T | F_J | F_COMMON, F_D | F_R | F_G},
    {KC_MODE_RESET, F_D | F_R | F_G | F_T | F_P | F_O | F_SHIFT | F_J | F_COMMON,
     F_D | F_R | F_G | F_T},
    {KC_MODE_DELETE_GROUP, F_D | F_R | F_G | F_J | F_COMMON, F_R | F_G},
};

static int parse_offset(const char *s, kc_opts_t *o)
{
    int64_t v;
    if (strcmp(s, "beginning") == 0 || strcmp(s, "earliest") == 0) {
        o->start = KC_START_BEGINNING;
    } else if (strcmp(s, "end") == 0 || strcmp(s, "latest") == 0) {
        o->start = KC_START_END;
    } else if (strcmp(s, "stored") == 0) {
        o->start = KC_START_STORED;
    } else if (strncmp(s, "s@", 2) == 0 && kc_parse_i64(s + 2, &v) == 0 && v >= 0) {
        o->start = KC_START_TIME, o->start_value = v;
    } else if (strncmp(s, "e@", 2) == 0 && kc_parse_i64(s + 2, &v) == 0 && v >= 0) {
        o->stop_time = v;
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
        return kc_usage("give only one mode (-L, -P, -C, --create, --delete, --alter, ...)");
    o->mode = m;
    return 0;
}

enum {
    OPT_CREATE = 256, OPT_DELETE, OPT_RECORDS, OPT_VERSION, OPT_FORCE, OPT_ALTER,
    OPT_DELETE_RECORDS, OPT_RETENTION, OPT_STATS, OPT_GROUPS, OPT_DESCRIBE, OPT_RESET,
    OPT_DELETE_GROUP, OPT_SHIFT
};

static const struct option long_opts[] = {
    {"create", no_argument, NULL, OPT_CREATE},
    {"delete", no_argument, NULL, OPT_DELETE},
    {"records", no_argument, NULL, OPT_RECORDS},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {"force", no_argument, NULL, OPT_FORCE},
    {"alter", no_argument, NULL, OPT_ALTER},
    {"delete-records", no_argument, NULL, OPT_DELETE_RECORDS},
    {"retention", no_argument, NULL, OPT_RETENTION},
    {"stats", no_argument, NULL, OPT_STATS},
    {"groups", no_argument, NULL, OPT_GROUPS},
    {"describe", no_argument, NULL, OPT_DESCRIBE},
    {"reset-offsets", no_argument, NULL, OPT_RESET},
    {"delete-group", no_argument, NULL, OPT_DELETE_GROUP},
    {"shift-by", required_argument, NULL, OPT_SHIFT},
    {NULL, 0, NULL, 0},
};

/* Mode options: the option letter or long code -> mode. */
static enum kc_mode mode_of(int c)
{
    switch (c) {
    case 'L': return KC_MODE_LIST;
    case 'P': return KC_MODE_PRODUCE;
    case 'C': return KC_MODE_CONSUME;
    case OPT_CREATE: return KC_MODE_CREATE;
    case OPT_DELETE: return KC_MODE_DELETE;
    case OPT_ALTER: return KC_MODE_ALTER;
    case OPT_DELETE_RECORDS: return KC_MODE_DELETE_RECORDS;
    case OPT_RETENTION: return KC_MODE_RETENTION;
    case OPT_STATS: return KC_MODE_STATS;
    case OPT_GROUPS: return KC_MODE_GROUPS;
    case OPT_DESCRIBE: return KC_MODE_DESCRIBE;
    case OPT_RESET: return KC_MODE_RESET;
    case OPT_DELETE_GROUP: return KC_MODE_DELETE_GROUP;
    default: return KC_MODE_NONE;
    }
}

static char *unescaped[2]; /* -K and -D after kc_unescape (freed at exit) */

static int delimiter(const char *opt, const char *arg, int slot, const char **out, size_t *len)
{
    free(unescaped[slot]);
    unescaped[slot] = NULL;
    if (kc_unescape(arg, &unescaped[slot], len) < 0)
        return kc_usage("%s: bad escape in '%s' (\\n \\t \\r \\\\ \\0 \\xNN)", opt, arg);
    if (*len == 0)
        return kc_usage("%s: the delimiter must not be empty", opt);
    *out = unescaped[slot];
    return 0;
}

/* Checks across options once all are parsed; 0 or a usage status. */
static int check_combination(kc_opts_t *o, unsigned given, unsigned *required)
{
    if (o->mode == KC_MODE_CONSUME && o->group) {
        /* kcat's form -G GROUP TOPIC...; -t may be given (and repeated) too. */
        for (int i = 0; i < o->nargs; i++)
            o->topics[o->ntopics++] = o->args[i];
        o->nargs = 0;
        if (o->ntopics > 0)
            *required &= ~(unsigned)F_T;
        if (!o->registry)
            return kc_usage("-G needs -R dir:PATH or -R zk:HOST:PORT[/CHROOT]");
        if ((given & F_P) && o->partition >= 0)
            return kc_usage("-p cannot be combined with -G (the group assigns partitions)");
        if ((given & F_O) && o->start != KC_START_BEGINNING && o->start != KC_START_END &&
            o->start != KC_START_STORED)
            return kc_usage("-o with -G: only beginning, end or stored (where partitions "
                            "without a committed offset start)");
        if (o->stop_time >= 0)
            return kc_usage("-o e@TIMESTAMP cannot be combined with -G");
        if (o->keep_going)
            return kc_usage("-E cannot be combined with -G (the group stops at a read error)");
    } else if (o->mode == KC_MODE_CONSUME) {
        if (o->registry)
            return kc_usage("-R needs -G");
        if (o->start == KC_START_STORED)
            return kc_usage("-o stored: the committed offsets of a group; give -G GROUP "
                            "-R REGISTRY");
    }
    if (o->ntopics > 1 && !(o->mode == KC_MODE_CONSUME && o->group) &&
        o->mode != KC_MODE_DESCRIBE && o->mode != KC_MODE_RESET)
        return kc_usage("-t given more than once (several topics only with -G)");
    if (o->key && o->key_delim)
        return kc_usage("-k and -K cannot be combined");
    if (o->json && o->format)
        return kc_usage("-J and -f cannot be combined");
    if (o->mode == KC_MODE_ALTER && !(given & (F_X | F_N)))
        return kc_usage("--alter needs -X NAME=VALUE or -N PARTITIONS");
    for (size_t i = 0; i < o->nconf; i++)
        if (o->conf[i].remove && o->mode != KC_MODE_ALTER)
            return kc_usage("-X %s=default: only with --alter (removes the topic's own value)",
                            kc_conf_name(o->conf[i].key));
    if (o->mode == KC_MODE_DELETE_RECORDS && o->start != KC_START_OFFSET &&
        o->start != KC_START_END && o->start != KC_START_TIME)
        return kc_usage("--delete-records -o: N, end or s@TIMESTAMP");
    if (o->mode == KC_MODE_RESET) {
        if (!!(given & F_O) == !!(given & F_SHIFT))
            return kc_usage("--reset-offsets needs one of -o earliest|latest|N|s@TIMESTAMP "
                            "and --shift-by N");
        if ((given & F_O) && (o->start == KC_START_TAIL || o->start == KC_START_STORED ||
                              o->stop_time >= 0))
            return kc_usage("--reset-offsets -o: earliest, latest, N or s@TIMESTAMP (use "
                            "--shift-by -N to move back)");
    }
    if ((o->mode == KC_MODE_GROUPS || o->mode == KC_MODE_DELETE_GROUP) && o->registry &&
        strncmp(o->registry, "dir:", 4) != 0)
        return kc_usage("%s works on directory registries only (-R dir:PATH): a ZooKeeper "
                        "registry offers no listing of groups",
                        o->mode == KC_MODE_GROUPS ? "--groups" : "--delete-group");
    return 0;
}

int main(int argc, char **argv)
{
    static kc_opts_t o; /* static: what it points to stays reachable for LSan */
    unsigned given = 0;
    int help = 0, rc;
    int64_t v;

    /* A tool that writes files reports a full file-size limit (EFBIG)
     * instead of being killed by it. */
    signal(SIGXFSZ, SIG_IGN);

    memset(&o, 0, sizeof o);
    o.partition = -1;
    o.count = -1;
    o.codec = -1; /* -z not given: the topic's compression.type */
    o.stop_time = -1;
    o.msg_delim = "\n";
    o.msg_delim_len = 1;

    /* Subcommands come first: "adopt" (its own options), "dump", "verify". */
    if (argc > 1 && strcmp(argv[1], "adopt") == 0)
        return kc_adopt_main(argc - 1, argv + 1);
    int first = 1;
    if (argc > 1 && strcmp(argv[1], "dump") == 0)
        o.mode = KC_MODE_DUMP, first = 2;
    else if (argc > 1 && strcmp(argv[1], "verify") == 0)
        o.mode = KC_MODE_VERIFY, first = 2;
    else if (argc > 1 && strcmp(argv[1], "backup") == 0)
        o.mode = KC_MODE_BACKUP, first = 2;
    else if (argc > 1 && strcmp(argv[1], "compact") == 0)
        o.mode = KC_MODE_COMPACT, first = 2;

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
    while ((c = getopt_long(ac, av, ":d:t:p:N:K:H:z:lo:c:ef:JG:R:X:vhLPCD:k:TZquE", long_opts,
                            NULL)) != -1) {
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
            if (kc_parse_i64(optarg, &v) < 0 || v < -1 || v > INT32_MAX)
                return kc_usage("-p: invalid partition '%s' (0.., or -1 for all)", optarg);
            o.partition = (int32_t)v, given |= F_P;
            break;
        case 'N':
            if (kc_parse_i64(optarg, &v) < 0 || v < 1 || v > 100000)
                return kc_usage("-N: partitions must be 1..100000, not '%s'", optarg);
            o.partitions = (int32_t)v, given |= F_N;
            break;
        case 'K':
            if ((rc = delimiter("-K", optarg, 0, &o.key_delim, &o.key_delim_len)) != 0)
                return rc;
            given |= F_K;
            break;
        case 'D':
            if ((rc = delimiter("-D", optarg, 1, &o.msg_delim, &o.msg_delim_len)) != 0)
                return rc;
            given |= F_DL;
            break;
        case 'k':
            o.key = optarg, given |= F_KEY;
            break;
        case 'T':
            o.tee = 1, given |= F_TEE;
            break;
        case 'Z':
            o.null_empty = 1, given |= F_NULL;
            break;
        case 'q':
            o.quiet = 1, given |= F_Q;
            break;
        case 'u':
            setvbuf(stdout, NULL, _IONBF, 0);
            given |= F_U;
            break;
        case 'E':
            o.keep_going = 1, given |= F_KEEP;
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
            o.split_files = 1, given |= F_L;
            break;
        case 'o':
            if (parse_offset(optarg, &o) < 0)
                return kc_usage("-o: expected beginning, end, stored, N, -N, s@TIMESTAMP or "
                                "e@TIMESTAMP, not '%s'",
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
            if ((rc = kc_conf_parse(optarg, &cf->key, &cf->value)) < 0)
                return KC_EXIT_USAGE;
            cf->remove = rc == 1; /* NAME=default */
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
        case OPT_FORCE:
            o.force = 1, given |= F_FORCE;
            break;
        case OPT_SHIFT:
            if (kc_parse_i64(optarg, &v) < 0)
                return kc_usage("--shift-by: expected a whole number, not '%s'", optarg);
            o.shift = v, o.has_shift = 1, given |= F_SHIFT;
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
            if (mode_of(c) != KC_MODE_NONE) {
                if (o.mode == KC_MODE_DUMP || o.mode == KC_MODE_VERIFY ||
                    o.mode == KC_MODE_BACKUP || o.mode == KC_MODE_COMPACT)
                    return kc_usage("%s takes no mode option", av[optind - 1]);
                if ((rc = set_mode(&o, mode_of(c))) != 0)
                    return rc;
                break;
            }
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
        fputs(kc_mode_help(o.mode), stdout);
        return KC_EXIT_OK;
    }
    if (o.mode == KC_MODE_NONE)
        return kc_usage("no mode given (-L, -P, -C, --create, --delete, dump, verify, or an "
                        "admin mode: see --help)");

    unsigned extra = given & ~modes[mi].allowed;
    for (int i = 0; extra; i++, extra >>= 1)
        if (extra & 1)
            return kc_usage("option %s does not apply to this mode", flag_names[i]);
    unsigned required = modes[mi].required;
    if ((rc = check_combination(&o, given, &required)) != 0)
        return rc;
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
    case KC_MODE_BACKUP:
        if (o.nargs != 2)
            return kc_usage("backup: expected DIR and DEST");
        o.dir = o.args[0];
        break;
    case KC_MODE_COMPACT:
        if (o.nargs != 1)
            return kc_usage("compact: expected exactly one DIR");
        if (o.partition >= 0 && o.ntopics != 1)
            return kc_usage("compact: -p needs one -t");
        o.dir = o.args[0];
        break;
    default:
        if (o.nargs > 0)
            return kc_usage("unexpected argument '%s'", o.args[0]);
        break;
    }

    switch (o.mode) {
    case KC_MODE_LIST: rc = kc_list(&o); break;
    case KC_MODE_CREATE: rc = kc_create(&o); break;
    case KC_MODE_DELETE: rc = kc_delete(&o); break;
    case KC_MODE_PRODUCE: rc = kc_produce(&o); break;
    case KC_MODE_CONSUME: rc = kc_consume(&o); break;
    case KC_MODE_DUMP: rc = kc_dump(&o); break;
    case KC_MODE_VERIFY: rc = kc_verify(&o); break;
    case KC_MODE_BACKUP: rc = kc_backup(&o); break;
    case KC_MODE_COMPACT: rc = kc_compact(&o); break;
    case KC_MODE_ALTER: rc = kc_alter(&o); break;
    case KC_MODE_DELETE_RECORDS: rc = kc_delete_records(&o); break;
    case KC_MODE_RETENTION: rc = kc_retention(&o); break;
    case KC_MODE_STATS: rc = kc_stats(&o); break;
    case KC_MODE_GROUPS: rc = kc_groups(&o); break;
    case KC_MODE_DESCRIBE: rc = kc_describe(&o); break;
    case KC_MODE_RESET: rc = kc_reset_offsets(&o); break;
    case KC_MODE_DELETE_GROUP: rc = kc_delete_group(&o); break;
    default: rc = KC_EXIT_USAGE; break;
    }
    free(o.headers);
    free(o.conf);
    free(o.topics);
    free(unescaped[0]);
    free(unescaped[1]);
    return rc;
}
