/*
 * bench_instr.c — instructions per record, counted by callgrind, checked
 * against committed reference counts.
 *
 * Times on a shared 2-core machine drift by tens of percent between runs;
 * the number of user-space instructions a fixed workload executes does
 * not. Each case below is a small fixed workload (the paper's 200-byte
 * messages, bench_util.h) whose measured part runs inside one function,
 * instr_measured(); this program re-runs itself once per case under
 *     valgrind --tool=callgrind --collect-atstart=no --toggle-collect=instr_measured
 * so only that function and everything it calls is counted (set-up,
 * payload generation, klog_open/close and the background sealer thread are
 * not), and divides callgrind's total, less the harness's own share (the
 * self cost of this file's code: the caller's loop and its look at each
 * record, cg_harness; printed as caller/rec), by the records the case
 * handled. Kernel work (the write and read system calls themselves) is not
 * counted either: these are the library's own instructions.
 *
 * Cases: append.b1/b50/b1000 (klog_append into one partition), append.b50.lz4,
 * read.iter (klog_reader_next over a batch-50 log, every batch's CRC
 * checked), read.iter.lz4, read.lease-copy (klog_lease_copy of 1 MiB
 * leases, then klog_batch_reader over the copy, CRC checked), and the codec
 * alone: codec.encode.b50 (klog_builder), codec.decode.b50
 * (klog_batch_reader), codec.encode.b50.lz4, codec.decode.b50.lz4.
 *
 * Each figure is printed as a RESULT line (unit instr/rec) and compared
 * with bench/instr_ref.tsv (name, instructions per record): a count more
 * than --tolerance percent (default 5) above its reference fails the run
 * (exit 1), so `make bench-quick` fails on a regression. --update rewrites
 * the reference file with this run's counts. Without valgrind the check is
 * skipped with a note (exit 0).
 *
 * Usage: bench_instr [--quick] [--update] [--ref FILE] [--tolerance PCT]
 *                    [--only CASE] [--dir DIR]
 *        bench_instr --case CASE --dir DIR     (the measured child)
 * The workload is the same with and without --quick: the counts are
 * compared with one reference.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_util.h"
#include "klog.h"

#define N_RECORDS 20000L
#define WARM_RECORDS 2000L /* appended before the measured part (buffers, tables) */
#define MAX_BATCH 1000

typedef struct icase {
    const char *name;
    int kind; /* below */
    int batch;
    int codec;
} icase_t;

enum { K_APPEND, K_ITER, K_LEASE, K_ENCODE, K_DECODE };

static const icase_t cases[] = {
    {"instr.append.b1", K_APPEND, 1, KLOG_COMPRESSION_NONE},
    {"instr.append.b50", K_APPEND, 50, KLOG_COMPRESSION_NONE},
    {"instr.append.b1000", K_APPEND, 1000, KLOG_COMPRESSION_NONE},
    {"instr.append.b50.lz4", K_APPEND, 50, KLOG_COMPRESSION_LZ4},
    {"instr.read.iter", K_ITER, 50, KLOG_COMPRESSION_NONE},
    {"instr.read.iter.lz4", K_ITER, 50, KLOG_COMPRESSION_LZ4},
    {"instr.read.lease-copy", K_LEASE, 50, KLOG_COMPRESSION_NONE},
    {"instr.codec.encode.b50", K_ENCODE, 50, KLOG_COMPRESSION_NONE},
    {"instr.codec.decode.b50", K_DECODE, 50, KLOG_COMPRESSION_NONE},
    {"instr.codec.encode.b50.lz4", K_ENCODE, 50, KLOG_COMPRESSION_LZ4},
    {"instr.codec.decode.b50.lz4", K_DECODE, 50, KLOG_COMPRESSION_LZ4},
};
#define NCASES (sizeof cases / sizeof cases[0])

/* ------------------------------------------------------------ workload */

static char (*payload)[BENCH_MSG]; /* N_RECORDS + WARM_RECORDS messages */
static klog_record_t *recs;

static void make_records(void)
{
    long n = N_RECORDS + WARM_RECORDS;
    payload = malloc((size_t)n * BENCH_MSG);
    recs = malloc((size_t)n * sizeof *recs);
    if (!payload || !recs) {
        fprintf(stderr, "bench_instr: out of memory\n");
        exit(1);
    }
    bench_pool_init();
    for (long i = 0; i < n; i++) {
        bench_payload(payload[i], (uint64_t)i);
        recs[i] = (klog_record_t){.timestamp = KLOG_TIMESTAMP_NOW,
                                  .key_len = KLOG_NULL_LEN,
                                  .value = payload[i],
                                  .value_len = BENCH_MSG};
    }
}

static klog_t *open_log(const char *dir, int codec, klog_partition_t **p, int fresh)
{
    klog_t *log;
    if (fresh)
        bench_rmrf(dir);
    BENCH_CHECK(klog_open(dir, NULL, 0, &log));
    if (fresh) {
        klog_config_t *cfg;
        BENCH_CHECK(klog_config_new(&cfg));
        BENCH_CHECK(klog_config_set(cfg, KLOG_CONF_COMPRESSION, codec));
        BENCH_CHECK(klog_topic_create(log, "instr", 1, cfg));
        klog_config_free(cfg);
    }
    BENCH_CHECK(klog_partition(log, "instr", 0, p));
    return log;
}

static void append_range(klog_partition_t *p, long first, long n, int batch)
{
    for (long i = 0; i < n; i += batch) {
        long k = n - i < batch ? n - i : batch;
        BENCH_CHECK(klog_append(p, &recs[first + i], (size_t)k, NULL));
    }
}

/* A consumer's minimum per record: its offset and last byte. */
static int check_rec(const klog_record_t *rec, long seen, unsigned *acc)
{
    if (rec->offset != seen || rec->value_len != BENCH_MSG)
        return -1;
    *acc += ((const unsigned char *)rec->value)[BENCH_MSG - 1];
    return 0;
}

typedef struct state {
    const icase_t *c;
    klog_partition_t *p;
    void **batches; /* K_DECODE: encoded batches */
    size_t *lens;
    long nbatches;
    klog_builder_t *b;
    klog_batch_reader_t *br;
    char *buf;
    unsigned acc;
} state_t;

static long run_iter(state_t *st)
{
    klog_reader_t *r;
    BENCH_CHECK(klog_reader_open(st->p, KLOG_OFFSET_BEGINNING, &r));
    klog_record_t rec;
    long seen = 0;
    int rc;
    while ((rc = klog_reader_next(r, &rec)) == 1) {
        if (check_rec(&rec, seen, &st->acc))
            return -1;
        seen++;
    }
    BENCH_CHECK(rc);
    klog_reader_close(r);
    return seen;
}

static long run_lease(state_t *st)
{
    int64_t off = 0;
    long seen = 0;
    for (;;) {
        klog_lease_t *l;
        BENCH_CHECK(klog_lease_acquire(st->p, off, 1 << 20, &l));
        size_t len = klog_lease_bytes(l);
        if (len == 0) {
            klog_lease_release(l);
            return seen;
        }
        BENCH_CHECK(klog_lease_copy(l, st->buf, 4 << 20));
        off = klog_lease_next_offset(l);
        klog_lease_release(l);
        for (size_t at = 0; at < len;) {
            BENCH_CHECK(klog_batch_reader_open(st->br, st->buf + at, len - at,
                                               KLOG_VALIDATE_HEADER));
            klog_record_t rec;
            int rc;
            while ((rc = klog_batch_reader_next(st->br, &rec)) == 1) {
                if (check_rec(&rec, seen, &st->acc))
                    return -1;
                seen++;
            }
            BENCH_CHECK(rc);
            at += klog_batch_reader_info(st->br)->size;
        }
    }
}

static long run_encode(state_t *st)
{
    int batch = st->c->batch;
    for (long i = 0; i < N_RECORDS; i += batch) {
        klog_builder_reset(st->b);
        for (int j = 0; j < batch; j++)
            BENCH_CHECK(klog_builder_add(st->b, &recs[WARM_RECORDS + i + j]));
        const void *out;
        size_t len;
        BENCH_CHECK(klog_builder_finish(st->b, &out, &len));
        st->acc += ((const unsigned char *)out)[len - 1];
    }
    return N_RECORDS;
}

static long run_decode(state_t *st)
{
    long seen = 0;
    for (long i = 0; i < st->nbatches; i++) {
        BENCH_CHECK(klog_batch_reader_open(st->br, st->batches[i], st->lens[i],
                                           KLOG_VALIDATE_HEADER));
        klog_record_t rec;
        int rc;
        while ((rc = klog_batch_reader_next(st->br, &rec)) == 1) {
            if (check_rec(&rec, seen, &st->acc))
                return -1;
            seen++;
        }
        BENCH_CHECK(rc);
    }
    return seen;
}

/* Everything callgrind counts happens in here (--toggle-collect). Returns
 * the records handled. */
__attribute__((noinline)) long instr_measured(state_t *st);
__attribute__((noinline)) long instr_measured(state_t *st)
{
    switch (st->c->kind) {
    case K_APPEND:
        append_range(st->p, WARM_RECORDS, N_RECORDS, st->c->batch);
        return N_RECORDS;
    case K_ITER:
        return run_iter(st);
    case K_LEASE:
        return run_lease(st);
    case K_ENCODE:
        return run_encode(st);
    default:
        return run_decode(st);
    }
}

static int child(const char *name, const char *dir)
{
    const icase_t *c = NULL;
    for (size_t i = 0; i < NCASES; i++)
        if (strcmp(cases[i].name, name) == 0)
            c = &cases[i];
    if (!c) {
        fprintf(stderr, "bench_instr: unknown case %s\n", name);
        return 2;
    }
    make_records();
    state_t st = {.c = c};
    klog_t *log = NULL;
    long expect = N_RECORDS;
    switch (c->kind) {
    case K_APPEND:
        log = open_log(dir, c->codec, &st.p, 1);
        append_range(st.p, 0, WARM_RECORDS, c->batch); /* warm: builders, buffers, tables */
        break;
    case K_ITER:
    case K_LEASE:
        log = open_log(dir, c->codec, &st.p, 1);
        append_range(st.p, WARM_RECORDS, N_RECORDS, c->batch);
        BENCH_CHECK(klog_close(log));
        log = open_log(dir, c->codec, &st.p, 0);
        BENCH_CHECK(klog_batch_reader_new(&st.br));
        st.buf = malloc(4 << 20);
        if (!st.buf)
            return 1;
        break;
    case K_ENCODE:
        BENCH_CHECK(klog_builder_new(c->codec, &st.b));
        for (int j = 0; j < c->batch; j++) /* warm: buffers, codec context, CRC tables */
            BENCH_CHECK(klog_builder_add(st.b, &recs[j]));
        {
            const void *out;
            size_t len;
            BENCH_CHECK(klog_builder_finish(st.b, &out, &len));
        }
        break;
    case K_DECODE: {
        st.nbatches = N_RECORDS / c->batch;
        st.batches = calloc((size_t)st.nbatches, sizeof *st.batches);
        st.lens = calloc((size_t)st.nbatches, sizeof *st.lens);
        if (!st.batches || !st.lens)
            return 1;
        for (long i = 0; i < st.nbatches; i++) {
            BENCH_CHECK(klog_batch_encode(&recs[WARM_RECORDS + i * c->batch], (size_t)c->batch,
                                          c->codec, &st.batches[i], &st.lens[i]));
            klog_batch_set_base_offset(st.batches[i], i * c->batch);
        }
        BENCH_CHECK(klog_batch_reader_new(&st.br));
        /* warm: the decompression buffer and context */
        BENCH_CHECK(klog_batch_reader_open(st.br, st.batches[0], st.lens[0], 0));
        break;
    }
    }
    long got = instr_measured(&st);
    if (got != expect) {
        fprintf(stderr, "bench_instr: %s handled %ld records, expected %ld\n", name, got, expect);
        return 1;
    }
    bench_sink(st.acc);
    if (log)
        BENCH_CHECK(klog_close(log));
    klog_builder_free(st.b);
    klog_batch_reader_free(st.br);
    for (long i = 0; i < st.nbatches; i++)
        free(st.batches[i]);
    free(st.batches);
    free(st.lens);
    free(st.buf);
    free(payload);
    free(recs);
    printf("records=%ld\n", got);
    return 0;
}

/* ------------------------------------------------------------ driver */

typedef struct ref {
    char name[64];
    double v;
} ref_t;

static int load_refs(const char *path, ref_t *refs, int max)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[256];
    int n = 0;
    while (n < max && fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (sscanf(line, "%63s %lf", refs[n].name, &refs[n].v) == 2)
            n++;
    }
    fclose(f);
    return n;
}

/* Instructions callgrind counted, from its output file's totals line. */
static double cg_total(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[512];
    double v = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "totals:", 7) == 0 || (v < 0 && strncmp(line, "summary:", 8) == 0))
            v = strtod(line + (line[0] == 't' ? 7 : 8), NULL);
    fclose(f);
    return v;
}

/*
 * The harness's own share of the total: the self cost of code from this
 * file (the caller's loop, and check_rec's look at each record), which is
 * not the library's. Callgrind's out format: "fl=", "fi=" and "fe=" name the
 * source file of the cost lines that follow ("(id) name" the first time an
 * id appears anywhere, "(id)" after); a cost line is a position and the
 * cost; the line after "calls=" is a call's inclusive cost, not self cost.
 */
#define CG_MAX_IDS 65536
static double cg_harness(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    static unsigned char mine[CG_MAX_IDS]; /* file id -> is this file */
    memset(mine, 0, sizeof mine);
    char line[4096];
    int cur = 0, skip_next = 0;
    double v = 0;
    while (fgets(line, sizeof line, f)) {
        const char *id = NULL;
        int sets_cur = 0;
        if (!strncmp(line, "fl=", 3) || !strncmp(line, "fi=", 3) || !strncmp(line, "fe=", 3))
            id = line + 3, sets_cur = 1;
        else if (!strncmp(line, "cfi=", 4) || !strncmp(line, "cfl=", 4))
            id = line + 4;
        if (id) {
            char *end;
            long n = *id == '(' ? strtol(id + 1, &end, 10) : -1;
            if (n < 0 || n >= CG_MAX_IDS) {
                fclose(f);
                return -1; /* uncompressed names: not this format */
            }
            if (*end == ')' && end[1] == ' ')
                mine[n] = strstr(end + 2, "bench/bench_instr.c") != NULL;
            if (sets_cur)
                cur = mine[n];
            continue;
        }
        if (!strncmp(line, "calls=", 6)) {
            skip_next = 1;
            continue;
        }
        int cost_line = (line[0] >= '0' && line[0] <= '9') || line[0] == '+' || line[0] == '-' ||
                        line[0] == '*';
        if (cost_line && !skip_next && cur) {
            const char *sp = strchr(line, ' ');
            if (sp)
                v += strtod(sp + 1, NULL);
        }
        if (cost_line)
            skip_next = 0;
    }
    fclose(f);
    return v;
}

static int have_valgrind(void)
{
    return system("valgrind --version > /dev/null 2>&1") == 0;
}

int main(int argc, char **argv)
{
    const char *ref_path = "bench/instr_ref.tsv", *only = NULL, *cname = NULL, *dir = NULL;
    double tol = 5.0;
    int update = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            continue; /* same workload: the counts are compared with one reference */
        else if (strcmp(argv[i], "--update") == 0)
            update = 1;
        else if (strcmp(argv[i], "--ref") == 0 && i + 1 < argc)
            ref_path = argv[++i];
        else if (strcmp(argv[i], "--tolerance") == 0 && i + 1 < argc)
            tol = atof(argv[++i]);
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (strcmp(argv[i], "--case") == 0 && i + 1 < argc)
            cname = argv[++i];
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else {
            fprintf(stderr, "usage: bench_instr [--quick] [--update] [--ref FILE] "
                            "[--tolerance PCT] [--only CASE] [--dir DIR]\n");
            return 2;
        }
    }
    if (cname)
        return child(cname, dir ? dir : bench_tmp_path("/tmp", "instr"));

    bench_header("bench_instr", "user-space instructions per record (callgrind)");
    if (!have_valgrind()) {
        printf("SKIPPED: valgrind not found; instruction counts not checked "
               "(install it: sh .ci/deps optional)\n");
        return 0;
    }
    char self[4096];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0) {
        perror("bench_instr: /proc/self/exe");
        return 1;
    }
    self[sl] = 0;
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char work[600];
    snprintf(work, sizeof work, "%s", bench_tmp_path(base, "instr"));
    bench_rmrf(work);
    if (mkdir(work, 0700) != 0) {
        perror(work);
        return 1;
    }
    ref_t refs[64];
    int nref = load_refs(ref_path, refs, 64);
    if (nref < 0 && !update) {
        fprintf(stderr, "bench_instr: no reference counts at %s (run with --update)\n",
                ref_path);
    }
    ref_t got[NCASES];
    int ngot = 0, fail = 0;
    printf("%-28s %10s %10s %8s %10s  (tolerance +%.1f%%, reference %s)\n", "case", "instr/rec",
           "reference", "change", "caller/rec", tol, ref_path);
    for (size_t i = 0; i < NCASES; i++) {
        const icase_t *c = &cases[i];
        if (only && strcmp(only, c->name) != 0)
            continue;
        char out[700], logdir[700], cmd[8192];
        snprintf(out, sizeof out, "%s/%s.cg", work, c->name);
        snprintf(logdir, sizeof logdir, "%s/log", work);
        snprintf(cmd, sizeof cmd,
                 "valgrind --tool=callgrind --collect-atstart=no --toggle-collect=instr_measured "
                 "--callgrind-out-file='%s' '%s' --case %s --dir '%s' > '%s.out' 2>&1",
                 out, self, c->name, logdir, out);
        long records = 0;
        if (system(cmd) == 0) {
            char op[720];
            snprintf(op, sizeof op, "%s.out", out);
            FILE *f = fopen(op, "r");
            char line[512];
            while (f && fgets(line, sizeof line, f))
                if (strncmp(line, "records=", 8) == 0)
                    records = atol(line + 8);
            if (f)
                fclose(f);
        }
        double total = cg_total(out), harness = cg_harness(out);
        if (records <= 0 || total <= 0 || harness < 0 || harness >= total) {
            printf("FAILED: %s under callgrind (see %s.out)\n", c->name, out);
            fail = 1;
            continue;
        }
        double per = (total - harness) / (double)records;
        snprintf(got[ngot].name, sizeof got[ngot].name, "%s", c->name);
        got[ngot++].v = per;
        const ref_t *r = NULL;
        for (int k = 0; k < nref; k++)
            if (strcmp(refs[k].name, c->name) == 0)
                r = &refs[k];
        char change[32] = "new";
        const char *verdict = "";
        if (r) {
            double d = (per / r->v - 1) * 100;
            snprintf(change, sizeof change, "%+.1f%%", d);
            if (d > tol) {
                verdict = "  REGRESSION";
                if (!update)
                    fail = 1;
            } else if (d < -tol) {
                verdict = "  (better than the reference: --update)";
            }
        }
        printf("%-28s %10.1f %10.1f %8s %10.1f%s\n", c->name, per, r ? r->v : 0.0, change,
               harness / (double)records, verdict);
        printf("RESULT,%s,%.6g,instr/rec,%.6g,%.6g,%.4g\n", c->name, per, per, per,
               r ? per / r->v : 0.0);
        fflush(stdout);
    }
    if (update && !only) {
        FILE *f = fopen(ref_path, "w");
        if (!f) {
            perror(ref_path);
            return 1;
        }
        fprintf(f, "# bench_instr reference: user-space instructions per record (callgrind),\n"
                   "# checked by make bench / bench-quick with a +5%% tolerance.\n"
                   "# Regenerate: build/bench/bench_instr --update\n");
        for (int k = 0; k < ngot; k++)
            fprintf(f, "%s\t%.1f\n", got[k].name, got[k].v);
        fclose(f);
        printf("reference counts written to %s\n", ref_path);
    }
    bench_rmrf(work);
    if (fail)
        printf("bench_instr: FAILED: a count is more than %.1f%% above its reference, or a "
               "case did not run\n", tol);
    return fail;
}
