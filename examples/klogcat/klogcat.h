/*
 * klogcat.h — shared declarations of klogcat, a kcat-style command-line tool
 * for local libklog directories: the parsed options, one entry point per
 * mode, and the small helpers (messages, escaping, direct reading of segment
 * files) that several modes use.
 */
#ifndef KLOGCAT_H
#define KLOGCAT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "klog.h"

/* Exit statuses: 0 success, 1 failure (or problems found), 2 usage error,
 * 3 verify found only recoverable problems. */
#define KC_EXIT_OK 0
#define KC_EXIT_FAIL 1
#define KC_EXIT_USAGE 2
#define KC_EXIT_RECOVERABLE 3

enum kc_mode {
    KC_MODE_NONE = 0,
    KC_MODE_LIST,
    KC_MODE_CREATE,
    KC_MODE_DELETE,
    KC_MODE_PRODUCE,
    KC_MODE_CONSUME,
    KC_MODE_DUMP,
    KC_MODE_VERIFY,
    /* admin (admin.c, groups.c) */
    KC_MODE_ALTER,          /* --alter: -X configuration, -N more partitions */
    KC_MODE_DELETE_RECORDS, /* --delete-records -o OFFSET */
    KC_MODE_RETENTION,      /* --retention: apply retention now */
    KC_MODE_STATS,          /* --stats */
    KC_MODE_GROUPS,         /* --groups: list the registry's groups */
    KC_MODE_DESCRIBE,       /* --describe -G: offsets, lag, owners */
    KC_MODE_RESET,          /* --reset-offsets -G */
    KC_MODE_DELETE_GROUP,   /* --delete-group -G */
    KC_MODE_BACKUP,         /* backup DIR DEST */
    KC_MODE_COMPACT         /* compact DIR [-t TOPIC [-p N]] */
};

/* Where a consumer starts (-o). */
enum kc_start {
    KC_START_BEGINNING = 0, /* default */
    KC_START_END,
    KC_START_OFFSET,   /* absolute offset: value */
    KC_START_TAIL,     /* value records before the end of each partition */
    KC_START_TIME,     /* first record with timestamp >= value */
    KC_START_STORED    /* the group's committed offsets (-G) */
};

typedef struct kc_opts {
    enum kc_mode mode;
    const char *dir;         /* -d, or the positional DIR of verify */
    const char *topic;       /* -t (the first one) */
    const char **topics;     /* -C -G: every -t, then the TOPIC arguments */
    size_t ntopics;
    const char *group;       /* -G: consume as a member of this group */
    const char *registry;    /* -R: dir:PATH or zk:HOST:PORT[/CHROOT] */
    int32_t partition;       /* -p; -1 = all */
    int32_t partitions;      /* -N (create) */
    const char *key_delim;   /* -K, escapes decoded (key_delim_len bytes) */
    size_t key_delim_len;
    const char *msg_delim;   /* -D, escapes decoded; default "\n" */
    size_t msg_delim_len;
    const char *key;         /* -k: key of every produced record */
    int tee;                 /* -T: echo produced records to stdout */
    int null_empty;          /* -Z: empty key/value <-> null */
    int quiet;               /* -q: no notices, warnings or progress */
    int keep_going;          /* -E: a partition's read error does not end -C */
    int force;               /* --force: initialise a foreign directory */
    int64_t stop_time;       /* -o e@TIMESTAMP; -1 = none */
    int64_t shift;           /* --shift-by N (reset) */
    int has_shift;
    klog_header_t *headers;  /* -H name=value, views into argv */
    size_t header_count;
    int codec;               /* -z; KLOG_COMPRESSION_NONE by default */
    int split_files;         /* -l: FILE arguments are split by -D too */
    enum kc_start start;     /* -o */
    int64_t start_value;
    int64_t count;           /* -c; -1 = unlimited */
    int exit_at_end;         /* -e */
    const char *format;      /* -f */
    int json;                /* -J */
    int records;             /* dump --records */
    int verbose;             /* -v: library INFO messages (and, with -G,
                                group events) too */
    struct kc_conf {         /* -X name=value (create): topic configuration */
        int key;
        int64_t value;
        int remove;          /* NAME=default (--alter): drop the topic's value */
    } *conf;
    size_t nconf;
    char **args;             /* positional arguments (files) */
    int nargs;
} kc_opts_t;

/* Modes. Each returns an exit status. */
int kc_list(const kc_opts_t *o);
int kc_create(const kc_opts_t *o);
int kc_delete(const kc_opts_t *o);
int kc_produce(const kc_opts_t *o);
int kc_consume(const kc_opts_t *o);
int kc_dump(const kc_opts_t *o);
int kc_verify(const kc_opts_t *o);
int kc_backup(const kc_opts_t *o);
int kc_compact(const kc_opts_t *o);
/* Admin modes (admin.c, groups.c). */
int kc_alter(const kc_opts_t *o);
int kc_delete_records(const kc_opts_t *o);
int kc_retention(const kc_opts_t *o);
int kc_stats(const kc_opts_t *o);
int kc_groups(const kc_opts_t *o);
int kc_describe(const kc_opts_t *o);
int kc_reset_offsets(const kc_opts_t *o);
int kc_delete_group(const kc_opts_t *o);
/* `klogcat adopt ...` (adopt.c): argv[0] is "adopt". */
int kc_adopt_main(int argc, char **argv);
/* -C with -G (group.c). */
int kc_consume_group(const kc_opts_t *o);
/* Open the registry named by -R (dir:PATH or zk:...); prints the error. */
int kc_open_registry(const char *spec, klog_registry_t **out);

/* ---------------------------------------------------------- consume.c */
/* Record printing for -C: the value and a newline, -K, -f or -J. */
typedef struct kc_printer {
    const kc_opts_t *o;
    struct kc_fmt *fmt; /* compiled -f, or NULL */
} kc_printer_t;
/* 0, or an exit status after printing the error (a bad -f). */
int kc_printer_init(kc_printer_t *pr, const kc_opts_t *o);
void kc_printer_free(kc_printer_t *pr);
/* Print one record of topic/partition on stdout (buffered). */
void kc_print_record(const kc_printer_t *pr, const char *topic, int32_t partition,
                     const klog_record_t *rec, const klog_batch_info_t *batch);
/* Flush stdout; 1 after printing the error when writing failed, else 0. */
int kc_output_failed(void);
/* Set by SIGINT/SIGTERM once kc_catch_signals() has installed the handler. */
extern volatile sig_atomic_t kc_stop;
void kc_catch_signals(void);

/* ------------------------------------------------------------ usage.c */
/* The help text of mode m; the general one for KC_MODE_NONE. */
const char *kc_mode_help(enum kc_mode m);

/* ------------------------------------------------------------- util.c */
/* "klogcat: <message>\n" on stderr. */
void kc_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A usage error: message, a hint to --help, returns KC_EXIT_USAGE. */
int kc_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Strict decimal parse of a whole string. 0 or -1. */
int kc_parse_i64(const char *s, int64_t *out);
/* Open the log directory with a logger that prints library warnings (and
 * with -v information) to stderr. Prints the error itself; returns 0 or the
 * library's error code. Before opening, refuses a directory that is not a
 * libklog log directory (no klog.lock or klog.topics): for reading, and for
 * writing unless it is absent or empty (or --force). A read-write open that
 * meets the writer's lock says which process holds it when it can tell. */
int kc_open_log(const kc_opts_t *o, unsigned flags, klog_t **out);
/* The pid of the process holding the flock on dir/klog.lock (the writer),
 * from /proc/locks; 0 when none or unknown. */
long kc_lock_holder(const char *dir);
/* Decode kcat's escapes (\n \t \r \\ \0 \xNN) in s into a new malloc'd
 * buffer (NUL-terminated too, *len bytes). 0, or -1 for a bad escape. */
int kc_unescape(const char *s, char **out, size_t *len);
/* Progress line on stderr, only when it is a terminal and not -q: at most
 * every 200 ms (or at once with force); kc_progress_end clears it. */
void kc_progress(const kc_opts_t *o, int force, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void kc_progress_end(void);
/* A notice for humans on stderr (not with -q). */
void kc_note(const kc_opts_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Configuration value as -X takes it: codec and visibility names, else the
 * number. Writes into buf (cap bytes) and returns buf. */
const char *kc_conf_value_str(int key, int64_t value, char *buf, size_t cap);
/* A klog_log_fn printing to stderr: warnings and errors, and information
 * too when *(const int *)ctx (the verbose flag) is non-zero. */
void kc_stderr_log(void *ctx, int level, const char *msg);
/* Topic configuration names (Kafka's where there is one) <-> KLOG_CONF_*. */
const char *kc_conf_name(int key);
/* Parse "name=value" for -X; 0, 1 for "name=default" (*value untouched),
 * or -1 after printing a usage error. */
int kc_conf_parse(const char *arg, int *key, int64_t *value);
/* Write bytes as a JSON string (with quotes), or null for KLOG_NULL_LEN.
 * Bytes that are not valid UTF-8 are written as \u00XX. */
void kc_json_bytes(FILE *f, const void *p, int32_t len);
/* Write bytes readably for dumps: printable ASCII as is, the rest \xNN. */
void kc_print_escaped(FILE *f, const void *p, size_t len);

/* ---------------------------------------------------------- segfile.c */
/*
 * Direct reading of segment files for dump and verify: batches of a .log
 * one at a time with pread (never trusting a length before checking it
 * against the file), whole index files, and names.
 */
enum kc_scan_result {
    KC_SCAN_END = 0,     /* clean end of file */
    KC_SCAN_BATCH = 1,   /* a batch (maybe invalid: see rc) */
    KC_SCAN_TORN = -1,   /* bytes at the end too short for the batch they start */
    KC_SCAN_BADLEN = -2, /* a length field that cannot be a batch: stop */
    KC_SCAN_IOERR = -3   /* read failed (errno in err) */
};

typedef struct kc_batch {
    int64_t pos;              /* byte position in the .log */
    size_t size;              /* total bytes */
    const uint8_t *data;      /* the whole batch, valid until the next call */
    klog_batch_info_t info;   /* decoded header (meaningful unless magic != 2) */
    int rc;                   /* klog_batch_validate(KLOG_VALIDATE_HEADER) */
    uint32_t crc_computed;    /* CRC-32C over bytes [21, size) */
} kc_batch_t;

typedef struct kc_logscan {
    int fd;
    int64_t size;             /* file size when opened */
    int64_t pos;              /* next batch position */
    uint8_t *buf;
    size_t cap;
    int err;                  /* -errno after KC_SCAN_IOERR */
    char why[160];            /* description after TORN/BADLEN */
} kc_logscan_t;

/* Open path for scanning; 0 or -errno. */
int kc_logscan_open(kc_logscan_t *s, const char *path);
int kc_logscan_next(kc_logscan_t *s, kc_batch_t *b);
void kc_logscan_close(kc_logscan_t *s);

/* dump: print "problem at position POS: ..." and count it in *problems. */
void kc_problem(int *problems, int64_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* dump_txn.c: producer snapshots, .txnindex (base: the segment's, -1
 * unknown), leader-epoch-checkpoint and klog.producer-ids. */
void kc_dump_snapshot(const char *path, int *problems);
void kc_dump_txnindex(const char *path, int64_t base, int *problems);
void kc_dump_epochs(const char *path, int *problems);
void kc_dump_producer_ids(const char *path, int *problems);

/* Read a whole file into a malloc'd buffer (*out, free()). 0 or -errno. */
int kc_read_whole(const char *path, uint8_t **out, size_t *len);

/* Parse a 20-digit segment file name "<base><suffix>" (suffix like ".log").
 * Returns 1 and the base offset when name matches exactly, else 0. */
int kc_segment_name(const char *name, const char *suffix, int64_t *base);

/* Index entries from raw file bytes. Trailing all-zero entries are the
 * unused part of a preallocated (active) index: *used counts the entries
 * before them. */
size_t kc_index_used(const uint8_t *buf, size_t len, size_t entry_size);

/* Checkpoint text lint: find where a checkpoint file (kafka-format.md
 * section 4) goes wrong. Fills line_pos[i] with the byte position of line i
 * (up to max_lines). Returns -1 when well formed, else the byte position of
 * the first problem with its description in why. */
int64_t kc_ckpt_lint(const uint8_t *buf, size_t len, size_t *line_pos, size_t max_lines,
                     size_t *nlines, char *why, size_t whylen);

/* Big-endian loads: Kafka's files are big-endian (kafka-format.md). */
static inline uint32_t kc_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t kc_be64(const uint8_t *p) { return (uint64_t)kc_be32(p) << 32 | kc_be32(p + 4); }

#endif
