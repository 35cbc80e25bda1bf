/*
 * fuzz_meta.c — klog__meta_decode on arbitrary bytes. Each input is tried
 * twice: as given, and with its last 8 bytes replaced by the right XXH3-64
 * so that mutations reach the structure behind the checksum. Metadata that
 * decodes must satisfy the documented limits and re-encode to exactly the
 * bytes decoded (the encoding is canonical).
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "platform/bytes.h"
#include "storage/files.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const uint8_t *data, size_t size)
{
    klog__topic_meta_t *t = NULL;
    size_t n = 0;
    int rc = klog__meta_decode(data, size, &t, &n);
    if (rc) {
        if ((rc != KLOG_ECORRUPT && rc != KLOG_EVERSION) || t || n)
            abort();
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (!klog_topic_name_valid(t[i].name) || t[i].partitions < 1 ||
            t[i].partitions > 100000 || t[i].nconf > KLOG__TOPIC_CONF_MAX)
            abort();
    }
    klog__buf_t b = {0};
    if (klog__meta_encode(t, n, &b) != 0 || b.len != size || memcmp(b.data, data, size) != 0)
        abort();
    klog__buf_free(&b);
    free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size);
    if (size >= 8) {
        /* An exact-size copy, so ASan catches any over-read. */
        uint8_t *copy = malloc(size);
        if (!copy)
            return 0;
        memcpy(copy, data, size);
        klog__store64(copy + size - 8, XXH3_64bits(copy, size - 8));
        check(copy, size);
        free(copy);
    }
    return 0;
}
