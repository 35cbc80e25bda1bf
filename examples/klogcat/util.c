/*
 * util.c — klogcat's small shared helpers: messages on stderr, strict number
 * parsing, opening the log with a stderr logger, and escaping bytes for
 * JSON and for human-readable dumps.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "klogcat.h"

void kc_err(const char *fmt, ...)
{
    va_list ap;
    fputs("klogcat: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int kc_usage(const char *fmt, ...)
{
    va_list ap;
    fputs("klogcat: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'klogcat --help' for more information.\n", stderr);
    return KC_EXIT_USAGE;
}

int kc_parse_i64(const char *s, int64_t *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || end == s)
        return -1;
    *out = v;
    return 0;
}

void kc_stderr_log(void *ctx, int level, const char *msg)
{
    int verbose = *(const int *)ctx; /* -1: -q */
    static const char *const names[] = {"error", "warning", "info", "debug"};
    if (level > (verbose > 0 ? KLOG_LOG_INFO : verbose < 0 ? KLOG_LOG_ERROR : KLOG_LOG_WARN))
        return;
    fprintf(stderr, "klogcat: klog %s: %s\n",
            level >= 0 && level <= KLOG_LOG_DEBUG ? names[level] : "message", msg);
}

static int file_exists(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

/* 1 when dir holds anything but "." and "..", 0 when empty, -1 unreadable. */
static int dir_nonempty(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;
    if (!d)
        return -1;
    while (!found && (e = readdir(d)) != NULL)
        found = strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return found;
}

/* Refuse directories that are not log directories (see klogcat.h). */
static int check_log_dir(const kc_opts_t *o, unsigned flags)
{
    struct stat st;
    if (stat(o->dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return 0; /* klog_open reports ENOENT, ENOTDIR, ... itself */
    if (file_exists(o->dir, "klog.lock") || file_exists(o->dir, "klog.topics"))
        return 0;
    if (file_exists(o->dir, "klog.state")) {
        kc_err("%s: not a libklog log directory: it is one partition's directory "
               "(klog.state); give the log directory above it (-d %s/..)",
               o->dir, o->dir);
        return -1;
    }
    int nonempty = dir_nonempty(o->dir);
    if (flags & (KLOG_OPEN_RDONLY | KLOG_OPEN_NOCREATE)) {
        kc_err("%s: not a libklog log directory (it has no klog.lock or klog.topics)", o->dir);
        return -1;
    }
    if (nonempty && !o->force) {
        kc_err("%s: not a libklog log directory, and not empty: refusing to initialise it "
               "(give --force to make it a log directory anyway)",
               o->dir);
        return -1;
    }
    return 0;
}

long kc_lock_holder(const char *dir)
{
    char path[4096], line[256];
    struct stat st;
    long pid = 0;
    snprintf(path, sizeof path, "%s/klog.lock", dir);
    if (stat(path, &st) != 0)
        return 0;
    FILE *f = fopen("/proc/locks", "r");
    if (!f)
        return 0;
    while (!pid && fgets(line, sizeof line, f)) {
        char kind[16];
        long p;
        unsigned maj, min;
        unsigned long ino;
        if (sscanf(line, "%*d: %15s %*s %*s %ld %x:%x:%lu", kind, &p, &maj, &min, &ino) == 5 &&
            strcmp(kind, "FLOCK") == 0 && maj == major(st.st_dev) && min == minor(st.st_dev) &&
            ino == (unsigned long)st.st_ino)
            pid = p;
    }
    fclose(f);
    return pid;
}

int kc_open_log(const kc_opts_t *o, unsigned flags, klog_t **out)
{
    static int verbose;
    klog_config_t *cfg = NULL;
    if (check_log_dir(o, flags) < 0)
        return KLOG_ENOTFOUND;
    int rc = klog_config_new(&cfg);
    if (rc < 0) {
        kc_err("%s", klog_strerror(rc));
        return rc;
    }
    verbose = o->quiet ? -1 : o->verbose;
    klog_config_set_logger(cfg, kc_stderr_log, &verbose);
    rc = klog_open(o->dir, cfg, flags, out);
    klog_config_free(cfg);
    if (rc < 0) {
        if (rc == KLOG_ELOCKED) {
            long pid = kc_lock_holder(o->dir);
            char who[160] = "another process", comm[64] = "", path[64];
            if (pid > 0) {
                snprintf(path, sizeof path, "/proc/%ld/comm", pid);
                FILE *f = fopen(path, "r");
                if (f) {
                    if (fgets(comm, sizeof comm, f))
                        comm[strcspn(comm, "\n")] = 0;
                    fclose(f);
                }
                /* The broker serves Kafka's admin APIs: point there. */
                snprintf(who, sizeof who, "process %ld%s%s%s", pid, comm[0] ? " (" : "", comm,
                         !comm[0]                       ? ""
                         : strcmp(comm, "kbroker") == 0 ? ": change topics through its Kafka "
                                                          "admin API, e.g. kafka-topics.sh)"
                                                        : ")");
            }
            kc_err("%s: %s: %s is writing to it (it holds %s/klog.lock); stop it first, or use "
                   "a read-only mode (-L, -C, --stats, --describe)",
                   o->dir, klog_strerror(rc), who, o->dir);
        } else {
            kc_err("%s: %s", o->dir, klog_strerror(rc));
        }
    }
    return rc;
}

int kc_unescape(const char *s, char **out, size_t *len)
{
    size_t n = strlen(s), k = 0;
    char *b = malloc(n + 1);
    if (!b)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            b[k++] = s[i];
            continue;
        }
        char c = s[++i];
        switch (c) {
        case 'n': b[k++] = '\n'; break;
        case 't': b[k++] = '\t'; break;
        case 'r': b[k++] = '\r'; break;
        case '0': b[k++] = '\0'; break;
        case '\\': b[k++] = '\\'; break;
        case 'x': {
            unsigned v = 0;
            int d;
            for (d = 0; d < 2; d++) {
                char h = s[i + 1 + (size_t)d];
                if (h >= '0' && h <= '9')
                    v = v * 16 + (unsigned)(h - '0');
                else if (h >= 'a' && h <= 'f')
                    v = v * 16 + (unsigned)(h - 'a' + 10);
                else if (h >= 'A' && h <= 'F')
                    v = v * 16 + (unsigned)(h - 'A' + 10);
                else
                    break;
            }
            if (d != 2) {
                free(b);
                return -1;
            }
            b[k++] = (char)v;
            i += 2;
            break;
        }
        default:
            free(b);
            return -1;
        }
    }
    b[k] = 0;
    *out = b;
    *len = k;
    return 0;
}

static int progress_tty = -1, progress_shown;
static int64_t progress_last_ns;

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void kc_progress(const kc_opts_t *o, int force, const char *fmt, ...)
{
    if (progress_tty < 0)
        progress_tty = isatty(STDERR_FILENO);
    if (!progress_tty || o->quiet)
        return;
    int64_t now = mono_ns();
    if (!force && progress_shown && now - progress_last_ns < 200000000)
        return;
    progress_last_ns = now;
    va_list ap;
    fputs("\r\033[Kklogcat: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fflush(stderr);
    progress_shown = 1;
}

void kc_progress_end(void)
{
    if (progress_shown) {
        fputc('\n', stderr);
        progress_shown = 0;
    }
}

void kc_note(const kc_opts_t *o, const char *fmt, ...)
{
    va_list ap;
    if (o->quiet)
        return;
    fflush(stdout);
    fputs("klogcat: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static const struct {
    int key;
    const char *name;
} conf_names[] = {
    {KLOG_CONF_SEGMENT_BYTES, "segment.bytes"},
    {KLOG_CONF_SEGMENT_MS, "segment.ms"},
    {KLOG_CONF_INDEX_INTERVAL_BYTES, "index.interval.bytes"},
    {KLOG_CONF_INDEX_MAX_BYTES, "segment.index.bytes"},
    {KLOG_CONF_RETENTION_MS, "retention.ms"},
    {KLOG_CONF_RETENTION_BYTES, "retention.bytes"},
    {KLOG_CONF_MAX_BATCH_BYTES, "max.message.bytes"},
    {KLOG_CONF_FLUSH_MESSAGES, "flush.messages"},
    {KLOG_CONF_FLUSH_MS, "flush.ms"},
    {KLOG_CONF_VISIBILITY, "visibility"},
    {KLOG_CONF_COMPRESSION, "compression.type"},
    {KLOG_CONF_CLEANUP_POLICY, "cleanup.policy"},
    {KLOG_CONF_MIN_CLEANABLE_DIRTY_RATIO, "min.cleanable.dirty.ratio"},
    {KLOG_CONF_MIN_COMPACTION_LAG_MS, "min.compaction.lag.ms"},
    {KLOG_CONF_MAX_COMPACTION_LAG_MS, "max.compaction.lag.ms"},
    {KLOG_CONF_DELETE_RETENTION_MS, "delete.retention.ms"},
    {KLOG_CONF_PRODUCER_ID_EXPIRATION_MS, "producer.id.expiration.ms"},
};

/* cleanup.policy as Kafka spells it. */
static const char *const policy_names[4] = {NULL, "delete", "compact", "compact,delete"};

/* min.cleanable.dirty.ratio "0.5" (0..1, up to three decimals) -> 500. */
static int parse_ratio(const char *v, int64_t *out)
{
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !(d >= 0.0 && d <= 1.0))
        return -1;
    *out = (int64_t)(d * 1000.0 + 0.5);
    return 0;
}

const char *kc_conf_name(int key)
{
    for (size_t i = 0; i < sizeof conf_names / sizeof conf_names[0]; i++)
        if (conf_names[i].key == key)
            return conf_names[i].name;
    return NULL;
}

int kc_conf_parse(const char *arg, int *key, int64_t *value)
{
    const char *eq = strchr(arg, '=');
    size_t n = eq ? (size_t)(eq - arg) : 0;
    *key = 0;
    for (size_t i = 0; eq && i < sizeof conf_names / sizeof conf_names[0]; i++)
        if (strlen(conf_names[i].name) == n && strncmp(arg, conf_names[i].name, n) == 0)
            *key = conf_names[i].key;
    if (!*key) {
        kc_usage("-X: expected NAME=VALUE with NAME one of segment.bytes, segment.ms, "
                 "index.interval.bytes, segment.index.bytes, retention.ms, retention.bytes, "
                 "max.message.bytes, flush.messages, flush.ms, visibility, compression.type, "
                 "cleanup.policy, min.cleanable.dirty.ratio, min.compaction.lag.ms, "
                 "max.compaction.lag.ms, delete.retention.ms, producer.id.expiration.ms; "
                 "not '%s'",
                 arg);
        return -1;
    }
    const char *v = eq + 1;
    if (strcmp(v, "default") == 0)
        return 1;
    if (*key == KLOG_CONF_COMPRESSION && klog_compression_parse(v) >= 0) {
        *value = klog_compression_parse(v);
        return 0;
    }
    if (*key == KLOG_CONF_CLEANUP_POLICY) {
        for (int64_t k = 1; k < 4; k++)
            if (strcmp(v, policy_names[k]) == 0 || (k == 3 && strcmp(v, "delete,compact") == 0)) {
                *value = k;
                return 0;
            }
        kc_usage("-X cleanup.policy: expected delete, compact or compact,delete, not '%s'", v);
        return -1;
    }
    if (*key == KLOG_CONF_MIN_CLEANABLE_DIRTY_RATIO) {
        if (parse_ratio(v, value) == 0)
            return 0;
        kc_usage("-X min.cleanable.dirty.ratio: expected a number from 0 to 1, not '%s'", v);
        return -1;
    }
    if (*key == KLOG_CONF_VISIBILITY && (strcmp(v, "written") == 0 || strcmp(v, "flushed") == 0)) {
        *value = strcmp(v, "written") == 0 ? KLOG_VISIBLE_WRITTEN : KLOG_VISIBLE_FLUSHED;
        return 0;
    }
    if (kc_parse_i64(v, value) < 0) {
        kc_usage("-X: invalid value in '%s'", arg);
        return -1;
    }
    return 0;
}

const char *kc_conf_value_str(int key, int64_t value, char *buf, size_t cap)
{
    const char *name = NULL;
    if (key == KLOG_CONF_COMPRESSION)
        name = klog_compression_name((int)value);
    else if (key == KLOG_CONF_VISIBILITY)
        name = value == KLOG_VISIBLE_WRITTEN   ? "written"
               : value == KLOG_VISIBLE_FLUSHED ? "flushed"
                                               : NULL;
    else if (key == KLOG_CONF_CLEANUP_POLICY && value >= 1 && value <= 3)
        name = policy_names[value];
    if (key == KLOG_CONF_MIN_CLEANABLE_DIRTY_RATIO)
        snprintf(buf, cap, "%g", (double)value / 1000.0);
    else if (name)
        snprintf(buf, cap, "%s", name);
    else
        snprintf(buf, cap, "%lld", (long long)value);
    return buf;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when invalid. */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    size_t len;
    uint32_t min, cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, min = 0x80, cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, min = 0x800, cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, min = 0x10000, cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void kc_json_bytes(FILE *f, const void *p, int32_t len)
{
    if (len < 0) {
        fputs("null", f);
        return;
    }
    const uint8_t *b = p;
    size_t n = (size_t)len, i = 0;
    fputc('"', f);
    while (i < n) {
        uint8_t c = b[i];
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
            i++;
        } else if (c >= 0x20 && c < 0x7f) {
            fputc(c, f);
            i++;
        } else if (c == '\n') {
            fputs("\\n", f), i++;
        } else if (c == '\t') {
            fputs("\\t", f), i++;
        } else if (c == '\r') {
            fputs("\\r", f), i++;
        } else if (c >= 0x80) {
            size_t k = utf8_seq(b + i, n - i);
            if (k) {
                fwrite(b + i, 1, k, f);
                i += k;
            } else {
                fprintf(f, "\\u%04x", c);
                i++;
            }
        } else {
            fprintf(f, "\\u%04x", c);
            i++;
        }
    }
    fputc('"', f);
}

void kc_print_escaped(FILE *f, const void *p, size_t len)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < len; i++) {
        if (b[i] == '\\')
            fputs("\\\\", f);
        else if (b[i] >= 0x20 && b[i] < 0x7f)
            fputc(b[i], f);
        else
            fprintf(f, "\\x%02x", b[i]);
    }
}
