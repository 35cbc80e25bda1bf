/*
 * util.c — klogcat's small shared helpers: messages on stderr, strict number
 * parsing, opening the log with a stderr logger, and escaping bytes for
 * JSON and for human-readable dumps.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    int verbose = *(const int *)ctx;
    static const char *const names[] = {"error", "warning", "info", "debug"};
    if (level > (verbose ? KLOG_LOG_INFO : KLOG_LOG_WARN))
        return;
    fprintf(stderr, "klogcat: klog %s: %s\n",
            level >= 0 && level <= KLOG_LOG_DEBUG ? names[level] : "message", msg);
}

int kc_open_log(const kc_opts_t *o, unsigned flags, klog_t **out)
{
    static int verbose;
    klog_config_t *cfg = NULL;
    int rc = klog_config_new(&cfg);
    if (rc < 0) {
        kc_err("%s", klog_strerror(rc));
        return rc;
    }
    verbose = o->verbose;
    klog_config_set_logger(cfg, kc_stderr_log, &verbose);
    rc = klog_open(o->dir, cfg, flags, out);
    klog_config_free(cfg);
    if (rc < 0) {
        if (rc == KLOG_ELOCKED)
            kc_err("%s: %s (another process is writing to it)", o->dir, klog_strerror(rc));
        else
            kc_err("%s: %s", o->dir, klog_strerror(rc));
    }
    return rc;
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
};

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
                 "max.message.bytes, flush.messages, flush.ms, visibility, compression.type; "
                 "not '%s'",
                 arg);
        return -1;
    }
    const char *v = eq + 1;
    if (*key == KLOG_CONF_COMPRESSION && klog_compression_parse(v) >= 0) {
        *value = klog_compression_parse(v);
        return 0;
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
