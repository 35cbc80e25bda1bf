/*
 * batchtool — read and write RecordBatch v2 files in a canonical text form,
 * for interoperability tests against other Kafka implementations.
 *
 *   batchtool dump FILE        print every batch of FILE (concatenated
 *                              batches allowed), validating records
 *   batchtool build CODEC OUT  read record lines on stdin, write one batch
 *   batchtool validate FILE    exit 0 if FILE is exactly one valid batch
 *
 * Text form, one line per record (offsets are ignored by `build`):
 *   rec offset=N ts=N key=B value=B headers=N [h=K:B ...]
 * where B is `null` or `x` followed by lower-case hex (`x` alone = empty)
 * and K is the header key in hex. `dump` precedes each batch's records with
 *   batch base_offset=N count=N codec=NAME attrs=0xHH last_delta=N
 *         base_ts=N max_ts=N crc=0xHHHHHHHH size=N
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "klog.h"
#include "util/tu_records.h"

static void print_bytes(FILE *f, const void *p, int32_t len)
{
    if (len < 0) {
        fputs("null", f);
        return;
    }
    char *h = tu_hex(p, (size_t)len);
    fprintf(f, "x%s", h);
    free(h);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *b = malloc(cap);
    size_t got;
    while ((got = fread(b + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap)
            b = realloc(b, cap *= 2);
    }
    fclose(f);
    *len = n;
    return b;
}

static int cmd_dump(const char *path)
{
    size_t len;
    uint8_t *buf = slurp(path, &len);
    klog_batch_reader_t *r;
    if (klog_batch_reader_new(&r) != 0)
        return 2;
    size_t pos = 0;
    int rc = 0;
    while (pos < len) {
        klog_batch_info_t info;
        rc = klog_batch_header(buf + pos, len - pos, &info);
        if (rc == 0)
            rc = klog_batch_validate(buf + pos, info.size, KLOG_VALIDATE_RECORDS, NULL);
        if (rc == 0)
            rc = klog_batch_reader_open(r, buf + pos, info.size, KLOG_VALIDATE_HEADER);
        if (rc) {
            printf("error at %zu: %s\n", pos, klog_err_name(rc));
            break;
        }
        const char *codec = klog_compression_name(info.compression);
        printf("batch base_offset=%lld count=%d codec=%s attrs=0x%02x last_delta=%d base_ts=%lld "
               "max_ts=%lld crc=0x%08x size=%zu\n",
               (long long)info.base_offset, info.record_count, codec ? codec : "?",
               (unsigned)(uint16_t)info.attributes, info.last_offset_delta,
               (long long)info.base_timestamp, (long long)info.max_timestamp, info.crc, info.size);
        klog_record_t rec;
        while ((rc = klog_batch_reader_next(r, &rec)) == 1) {
            printf("rec offset=%lld ts=%lld key=", (long long)rec.offset, (long long)rec.timestamp);
            print_bytes(stdout, rec.key, rec.key_len);
            fputs(" value=", stdout);
            print_bytes(stdout, rec.value, rec.value_len);
            printf(" headers=%u", rec.header_count);
            for (uint32_t i = 0; i < rec.header_count; i++) {
                fputs(" h=", stdout);
                print_bytes(stdout, rec.headers[i].key, rec.headers[i].key_len);
                fputc(':', stdout);
                print_bytes(stdout, rec.headers[i].value, rec.headers[i].value_len);
            }
            fputc('\n', stdout);
        }
        if (rc < 0) {
            printf("error at %zu: %s\n", pos, klog_err_name(rc));
            break;
        }
        pos += info.size;
    }
    klog_batch_reader_free(r);
    free(buf);
    return rc < 0 ? 1 : 0;
}

/* Parse `null` / `x<hex>`; returns malloc'd bytes (NULL for null). */
static int parse_bytes(const char *s, uint8_t **out, int32_t *len)
{
    if (strcmp(s, "null") == 0) {
        *out = NULL;
        *len = KLOG_NULL_LEN;
        return 0;
    }
    if (s[0] != 'x')
        return -1;
    size_t n;
    *out = tu_unhex(s + 1, &n);
    if (!*out)
        return -1;
    *len = (int32_t)n;
    return 0;
}

static int cmd_build(const char *codec_name, const char *out_path)
{
    int codec = klog_compression_parse(codec_name);
    if (codec < 0) {
        fprintf(stderr, "unknown codec %s\n", codec_name);
        return 2;
    }
    klog_builder_t *b;
    int rc = klog_builder_new(codec, &b);
    if (rc) {
        fprintf(stderr, "builder: %s\n", klog_strerror(rc));
        return 2;
    }
    char line[1 << 16];
    int lineno = 0;
    while (fgets(line, sizeof line, stdin)) {
        lineno++;
        if (strncmp(line, "rec ", 4) != 0)
            continue;
        klog_record_t rec = { 0 };
        klog_header_t hdrs[64];
        void *owned[2 + 2 * 64];
        int nowned = 0;
        rec.headers = hdrs;
        char *save = NULL;
        for (char *tok = strtok_r(line + 4, " \n", &save); tok;
             tok = strtok_r(NULL, " \n", &save)) {
            uint8_t *p;
            int32_t n;
            if (strncmp(tok, "ts=", 3) == 0) {
                rec.timestamp = strtoll(tok + 3, NULL, 10);
            } else if (strncmp(tok, "key=", 4) == 0) {
                if (parse_bytes(tok + 4, &p, &n))
                    goto bad;
                rec.key = owned[nowned++] = p;
                rec.key_len = n;
            } else if (strncmp(tok, "value=", 6) == 0) {
                if (parse_bytes(tok + 6, &p, &n))
                    goto bad;
                rec.value = owned[nowned++] = p;
                rec.value_len = n;
            } else if (strncmp(tok, "h=", 2) == 0) {
                char *colon = strchr(tok, ':');
                if (!colon || rec.header_count == 64)
                    goto bad;
                *colon = 0;
                klog_header_t *h = &hdrs[rec.header_count++];
                if (parse_bytes(tok + 2, &p, &n) || n < 0)
                    goto bad;
                h->key = owned[nowned++] = p;
                h->key_len = n;
                if (parse_bytes(colon + 1, &p, &n))
                    goto bad;
                h->value = owned[nowned++] = p;
                h->value_len = n;
            }
        }
        rc = klog_builder_add(b, &rec);
        for (int i = 0; i < nowned; i++)
            free(owned[i]);
        if (rc) {
            fprintf(stderr, "line %d: %s\n", lineno, klog_strerror(rc));
            return 1;
        }
        continue;
    bad:
        fprintf(stderr, "line %d: malformed token\n", lineno);
        return 2;
    }
    const void *batch;
    size_t len;
    rc = klog_builder_finish(b, &batch, &len);
    if (rc) {
        fprintf(stderr, "finish: %s\n", klog_strerror(rc));
        return 1;
    }
    FILE *f = fopen(out_path, "wb");
    if (!f || fwrite(batch, 1, len, f) != len || fclose(f) != 0) {
        perror(out_path);
        return 2;
    }
    klog_builder_free(b);
    return 0;
}

static int cmd_validate(const char *path)
{
    size_t len;
    uint8_t *buf = slurp(path, &len);
    int rc = klog_batch_validate(buf, len, KLOG_VALIDATE_RECORDS, NULL);
    printf("%s\n", rc ? klog_err_name(rc) : "OK");
    free(buf);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "dump") == 0)
        return cmd_dump(argv[2]);
    if (argc == 4 && strcmp(argv[1], "build") == 0)
        return cmd_build(argv[2], argv[3]);
    if (argc == 3 && strcmp(argv[1], "validate") == 0)
        return cmd_validate(argv[2]);
    fprintf(stderr, "usage: batchtool dump FILE | build CODEC OUT < records | validate FILE\n");
    return 2;
}
