/*
 * fuzz_seal.c — klog__seal_decode on arbitrary bytes. Each input is tried
 * twice: as given, and (when it has a seal's size) with the right checksum
 * in its last 8 bytes so that mutations reach the field checks. A seal that
 * decodes must hold the promised invariants and re-encode to exactly the
 * bytes decoded (the encoding is canonical: zero reserved bytes, fixed
 * size, checksum).
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "platform/bytes.h"
#include "storage/files.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const uint8_t *data, size_t size)
{
    klog__seal_t s;
    uint8_t buf[KLOG__SEAL_SIZE];
    int rc = klog__seal_decode(data, size, &s);
    if (rc) {
        if (rc != KLOG_ECORRUPT && rc != KLOG_EVERSION)
            abort();
        return;
    }
    if (size != KLOG__SEAL_SIZE || s.base_offset < 0 || s.next_offset < s.base_offset ||
        s.log_size < 0 || (s.max_timestamp == -1) != (s.max_ts_offset == -1))
        abort();
    if (s.max_ts_offset != -1 &&
        (s.max_ts_offset < s.base_offset || s.max_ts_offset >= s.next_offset))
        abort();
    klog__seal_encode(&s, buf);
    if (memcmp(buf, data, KLOG__SEAL_SIZE) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size);
    if (size == KLOG__SEAL_SIZE) {
        uint8_t copy[KLOG__SEAL_SIZE];
        memcpy(copy, data, size);
        klog__store64(copy + size - 8, XXH3_64bits(copy, size - 8));
        check(copy, size);
    }
    return 0;
}
