/*
 * consume.c — -C: print records of one partition or of all (interleaved, a
 * burst from each in turn) from a read-only open, so a writer in another
 * process can keep appending. Starts at -o (beginning, end, N, -N per
 * partition, s@TIMESTAMP), stops after -c records, at the end with -e, or
 * else follows new data with klog_reader_wait until SIGINT/SIGTERM. Output
 * is kcat's: the value and a newline by default, a -f format, or one JSON
 * object per record with -J. With -G the work goes to group.c, which
 * shares the printing (kc_print_record) and signal handling defined here.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "klogcat.h"

#define BURST 256 /* records taken from one partition before the next */

/* ------------------------------------------------------------ -f format */

enum { TOK_LIT = 0 };

typedef struct fmt_tok {
    char field;      /* TOK_LIT or the letter after '%' */
    size_t off, len; /* literal: bytes in fmt_t.lit */
} fmt_tok_t;

typedef struct kc_fmt {
    fmt_tok_t *tok;
    size_t ntok;
    char *lit;
    size_t litlen;
} fmt_t;

static int add_lit(fmt_t *f, char c)
{
    if (f->ntok == 0 || f->tok[f->ntok - 1].field != TOK_LIT) {
        f->tok[f->ntok].field = TOK_LIT;
        f->tok[f->ntok].off = f->litlen;
        f->tok[f->ntok].len = 0;
        f->ntok++;
    }
    f->lit[f->litlen++] = c;
    f->tok[f->ntok - 1].len++;
    return 0;
}

/* Compile s; 0, or -1 after printing a usage error. */
static int fmt_compile(fmt_t *f, const char *s)
{
    size_t n = strlen(s);
    f->tok = calloc(n + 1, sizeof *f->tok);
    f->lit = malloc(n + 1);
    f->ntok = f->litlen = 0;
    if (!f->tok || !f->lit) {
        kc_err("out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            char c = s[++i];
            if (c == '%') {
                add_lit(f, '%');
            } else if (c && strchr("tpoksThSKR", c)) {
                f->tok[f->ntok].field = c;
                f->ntok++;
            } else {
                kc_usage("-f: unknown format code '%%%c'", c ? c : ' ');
                return -1;
            }
        } else if (s[i] == '\\') {
            char c = s[++i];
            switch (c) {
            case 'n': add_lit(f, '\n'); break;
            case 't': add_lit(f, '\t'); break;
            case 'r': add_lit(f, '\r'); break;
            case '\\': add_lit(f, '\\'); break;
            case '0': add_lit(f, '\0'); break;
            case 'x': {
                char hex[5] = {'\\', 'x', 0, 0, 0}, *b;
                size_t bl;
                if (s[i + 1] && s[i + 2]) {
                    hex[2] = s[i + 1];
                    hex[3] = s[i + 2];
                }
                if (kc_unescape(hex, &b, &bl) < 0) {
                    kc_usage("-f: \\x needs two hexadecimal digits");
                    return -1;
                }
                add_lit(f, b[0]);
                free(b);
                i += 2;
                break;
            }
            default:
                kc_usage("-f: unknown escape '\\%c'", c ? c : ' ');
                return -1;
            }
        } else {
            add_lit(f, s[i]);
        }
    }
    return 0;
}

static void fmt_free(fmt_t *f)
{
    free(f->tok);
    free(f->lit);
}

/* ------------------------------------------------------------ printing */

typedef struct cpart {
    int32_t id;
    klog_partition_t *p;
    klog_reader_t *r;
    int done; /* -e: reached the end; e@: reached the stop time; -E: failed */
} cpart_t;

typedef kc_printer_t consumer_t;

static void put_bytes(const void *p, int32_t len)
{
    if (len > 0)
        fwrite(p, 1, (size_t)len, stdout);
}

/* A key or value: -Z prints null as NULL (kcat's -Z). */
static void put_field(const kc_opts_t *o, const void *p, int32_t len)
{
    if (len < 0 && o->null_empty)
        fputs("NULL", stdout);
    else
        put_bytes(p, len);
}

static void print_headers_text(const klog_record_t *rec)
{
    for (uint32_t i = 0; i < rec->header_count; i++) {
        const klog_header_t *h = &rec->headers[i];
        if (i)
            putchar(',');
        put_bytes(h->key, h->key_len);
        putchar('=');
        put_bytes(h->value, h->value_len);
    }
}

/* kcat's -J shape. The timestamp type comes from the record's batch
 * (klog_reader_batch_info); without one (group mode) it is "create". */
static void print_json(const char *topic, int32_t part, const klog_record_t *rec,
                       const klog_batch_info_t *batch)
{
    int append_time = batch && (batch->attributes & KLOG_ATTR_LOG_APPEND_TIME);
    fputs("{\"topic\":", stdout);
    kc_json_bytes(stdout, topic, (int32_t)strlen(topic));
    printf(",\"partition\":%" PRId32 ",\"offset\":%" PRId64 ",\"tstype\":\"%s\",\"ts\":%" PRId64
           ",\"headers\":[",
           part, rec->offset, append_time ? "logappend" : "create", rec->timestamp);
    for (uint32_t i = 0; i < rec->header_count; i++) {
        const klog_header_t *h = &rec->headers[i];
        if (i)
            putchar(',');
        kc_json_bytes(stdout, h->key, h->key_len);
        putchar(',');
        kc_json_bytes(stdout, h->value, h->value_len);
    }
    fputs("],\"key\":", stdout);
    kc_json_bytes(stdout, rec->key, rec->key_len);
    fputs(",\"payload\":", stdout);
    kc_json_bytes(stdout, rec->value, rec->value_len);
    fputs("}\n", stdout);
}

void kc_print_record(const kc_printer_t *c, const char *topic, int32_t part,
                     const klog_record_t *rec, const klog_batch_info_t *batch)
{
    const kc_opts_t *o = c->o;
    if (o->json) {
        print_json(topic, part, rec, batch);
        return;
    }
    if (!c->fmt) {
        if (o->key_delim) {
            put_field(o, rec->key, rec->key_len);
            fwrite(o->key_delim, 1, o->key_delim_len, stdout);
        }
        put_field(o, rec->value, rec->value_len);
        fwrite(o->msg_delim, 1, o->msg_delim_len, stdout);
        return;
    }
    for (size_t i = 0; i < c->fmt->ntok; i++) {
        const fmt_tok_t *t = &c->fmt->tok[i];
        switch (t->field) {
        case TOK_LIT: fwrite(c->fmt->lit + t->off, 1, t->len, stdout); break;
        case 't': fputs(topic, stdout); break;
        case 'p': printf("%" PRId32, part); break;
        case 'o': printf("%" PRId64, rec->offset); break;
        case 'k': put_field(o, rec->key, rec->key_len); break;
        case 's': put_field(o, rec->value, rec->value_len); break;
        case 'T': printf("%" PRId64, rec->timestamp); break;
        case 'h': print_headers_text(rec); break;
        case 'S': printf("%" PRId32, rec->value_len); break;
        case 'K': printf("%" PRId32, rec->key_len); break;
        case 'R': {
            uint32_t n = (uint32_t)rec->value_len;
            unsigned char be[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                                   (unsigned char)(n >> 8), (unsigned char)n};
            fwrite(be, 1, 4, stdout);
            break;
        }
        }
    }
}

/* ------------------------------------------------------------ positions */

/* The reader start offset for partition cp per -o. 0, 1 after an error was
 * printed, or 2 when the absolute offset is out of this partition's range
 * (also printed): as kcat, that partition starts at its end instead. */
static int start_offset(const kc_opts_t *o, cpart_t *cp, int64_t *start)
{
    klog_offsets_t off;
    int rc = klog_partition_offsets(cp->p, &off);
    if (rc < 0) {
        kc_err("%s-%" PRId32 ": %s", o->topic, cp->id, klog_strerror(rc));
        return 1;
    }
    switch (o->start) {
    case KC_START_STORED: /* main.c allows it only with -G */
    case KC_START_BEGINNING:
        *start = KLOG_OFFSET_BEGINNING;
        break;
    case KC_START_END:
        *start = KLOG_OFFSET_END;
        break;
    case KC_START_OFFSET:
        if (o->start_value < off.log_start || o->start_value > off.high_watermark) {
            kc_err("%s-%" PRId32 ": offset %" PRId64 " is out of range (log start %" PRId64
                   ", high watermark %" PRId64 ")%s",
                   o->topic, cp->id, o->start_value, off.log_start, off.high_watermark,
                   o->partition < 0 ? ": this partition starts at its end" : "");
            *start = KLOG_OFFSET_END;
            return 2;
        }
        *start = o->start_value;
        break;
    case KC_START_TAIL:
        *start = off.high_watermark - o->start_value;
        if (*start < off.log_start)
            *start = off.log_start;
        break;
    case KC_START_TIME:
        rc = klog_offset_for_time(cp->p, o->start_value, start);
        if (rc < 0) {
            kc_err("%s-%" PRId32 ": looking up time %" PRId64 ": %s", o->topic, cp->id,
                   o->start_value, klog_strerror(rc));
            return 1;
        }
        if (*start > off.high_watermark)
            *start = off.high_watermark;
        if (*start < off.log_start)
            *start = off.log_start;
        break;
    }
    return 0;
}

volatile sig_atomic_t kc_stop;

static void on_signal(int sig)
{
    (void)sig;
    kc_stop = 1;
}

void kc_catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* ------------------------------------------------------------ main loop */

int kc_output_failed(void)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        kc_err("writing output: %s", strerror(errno));
        return 1;
    }
    return 0;
}

static int consume_loop(const consumer_t *c, cpart_t *parts, int32_t n, int *failed)
{
    const kc_opts_t *o = c->o;
    int64_t left = o->count;
    int32_t waiter = 0;
    klog_record_t rec;

    while (!kc_stop) {
        int progress = 0, active = 0;
        for (int32_t i = 0; i < n && !kc_stop; i++) {
            cpart_t *cp = &parts[i];
            if (cp->done)
                continue;
            for (int k = 0; k < BURST; k++) {
                int rc = klog_reader_next(cp->r, &rec);
                if (rc == 1 && o->stop_time >= 0 && rec.timestamp >= o->stop_time) {
                    cp->done = 1; /* e@: this partition is done */
                    break;
                }
                if (rc == 1) {
                    kc_print_record(c, o->topic, cp->id, &rec, klog_reader_batch_info(cp->r));
                    progress = 1;
                    if (left > 0 && --left == 0)
                        return kc_output_failed() ? KC_EXIT_FAIL : KC_EXIT_OK;
                    continue;
                }
                if (rc == 0) {
                    if (o->exit_at_end)
                        cp->done = 1;
                    break;
                }
                fflush(stdout);
                kc_err("%s-%" PRId32 " at offset %" PRId64 ": %s%s", o->topic, cp->id,
                       klog_reader_position(cp->r), klog_strerror(rc),
                       o->keep_going ? " (-E: going on without this partition)" : "");
                if (!o->keep_going)
                    return KC_EXIT_FAIL;
                cp->done = 1;
                *failed = 1;
                break;
            }
            if (!cp->done)
                active++;
        }
        if (ferror(stdout))
            return kc_output_failed() ? KC_EXIT_FAIL : KC_EXIT_OK;
        if (active == 0)
            break; /* -e, e@ or -E: no partition is left to read */
        if (progress)
            continue;
        if (kc_output_failed())
            return KC_EXIT_FAIL;
        /* Idle: wait on one partition at a time (rotating), briefly when
         * there are others to look at again. */
        waiter = (waiter + 1) % n;
        while (parts[waiter].done)
            waiter = (waiter + 1) % n;
        int rc = klog_reader_wait(parts[waiter].r, n == 1 ? 1000 : 50);
        if (rc < 0 && rc != KLOG_ETIMEDOUT && rc != -EINTR) {
            kc_err("%s-%" PRId32 ": waiting for data: %s", o->topic, parts[waiter].id,
                   klog_strerror(rc));
            return KC_EXIT_FAIL;
        }
    }
    return kc_output_failed() ? KC_EXIT_FAIL : KC_EXIT_OK;
}

int kc_printer_init(kc_printer_t *pr, const kc_opts_t *o)
{
    pr->o = o;
    pr->fmt = NULL;
    if (!o->format)
        return 0;
    fmt_t *f = calloc(1, sizeof *f);
    if (!f) {
        kc_err("out of memory");
        return KC_EXIT_FAIL;
    }
    if (fmt_compile(f, o->format) < 0) {
        fmt_free(f);
        free(f);
        return KC_EXIT_USAGE;
    }
    pr->fmt = f;
    return 0;
}

void kc_printer_free(kc_printer_t *pr)
{
    if (pr->fmt) {
        fmt_free(pr->fmt);
        free(pr->fmt);
        pr->fmt = NULL;
    }
}

int kc_consume(const kc_opts_t *o)
{
    consumer_t c;
    klog_t *log = NULL;
    klog_topic_t *t;
    cpart_t *parts = NULL;
    int32_t n = 0;
    int status = KC_EXIT_FAIL, rc;

    if (o->group)
        return kc_consume_group(o);
    if ((rc = kc_printer_init(&c, o)) != 0)
        return rc;
    if (kc_open_log(o, KLOG_OPEN_RDONLY | KLOG_OPEN_NOCREATE, &log) < 0)
        goto out;
    rc = klog_topic_get(log, o->topic, &t);
    if (rc < 0) {
        kc_err("topic %s: %s", o->topic, klog_strerror(rc));
        goto out;
    }
    int32_t np = klog_topic_partition_count(t);
    if (o->partition >= np) {
        kc_err("topic %s has %" PRId32 " partition(s); there is no partition %" PRId32,
               o->topic, np, o->partition);
        goto out;
    }
    n = o->partition >= 0 ? 1 : np;
    int32_t out_of_range = 0;
    parts = calloc((size_t)n, sizeof *parts);
    if (!parts) {
        kc_err("out of memory");
        goto out;
    }
    for (int32_t i = 0; i < n; i++) {
        cpart_t *cp = &parts[i];
        int64_t start;
        cp->id = o->partition >= 0 ? o->partition : i;
        rc = klog_partition_get(t, cp->id, &cp->p);
        if (rc < 0) {
            kc_err("%s-%" PRId32 ": %s", o->topic, cp->id, klog_strerror(rc));
            goto out;
        }
        rc = start_offset(o, cp, &start);
        if (rc == 2 && o->partition < 0)
            out_of_range++;
        else if (rc)
            goto out;
        rc = klog_reader_open(cp->p, start, &cp->r);
        if (rc < 0) {
            kc_err("%s-%" PRId32 ": opening a reader: %s", o->topic, cp->id, klog_strerror(rc));
            goto out;
        }
    }
    if (out_of_range == n) {
        kc_err("offset %" PRId64 " is out of range in every partition of %s", o->start_value,
               o->topic);
        goto out;
    }
    if (!o->exit_at_end)
        kc_catch_signals();
    int failed = 0;
    status = consume_loop(&c, parts, n, &failed);
    if (status == KC_EXIT_OK && failed)
        status = KC_EXIT_FAIL;
out:
    if (parts)
        for (int32_t i = 0; i < n; i++)
            klog_reader_close(parts[i].r);
    free(parts);
    if (log && (rc = klog_close(log)) < 0) {
        kc_err("closing %s: %s", o->dir, klog_strerror(rc));
        status = KC_EXIT_FAIL;
    }
    kc_printer_free(&c);
    return status;
}
