/*
 * fuzz_recovery.c — segment recovery from arbitrary file contents: the
 * .log, .index, .timeindex and .seal all come from the input.
 *
 * Input layout:
 *   [u8 flags][u16 index length][u16 timeindex length][80-byte seal]
 *   [index bytes][timeindex bytes][.log: the rest]
 * flags: 0x01 fix batch CRCs; 0x02 leave a clean-shutdown marker (open
 * trusts more); 0x04 make the seal consistent with the .log (size, digest,
 * base, checksum) so that the index and field checks are reached; 0x08 the
 * segment is inactive (an empty active segment follows it); 0x10 no
 * .index; 0x20 no .timeindex; 0x40 no .seal.
 * Short inputs leave the missing parts empty. The log is then opened and
 * exercised (fuzz_logdir.h lists the invariants).
 */
#include <xxhash.h>

#include "fuzz_logdir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t take(const uint8_t **p, size_t *left, size_t want)
{
    size_t n = want < *left ? want : *left;
    *p += n;
    *left -= n;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5 || size > (1 << 20))
        return 0;
    fz_init();
    unsigned flags = data[0];
    size_t ilen = klog__load16(data + 1), tlen = klog__load16(data + 3);
    const uint8_t *p = data + 5;
    size_t left = size - 5;
    const uint8_t *seal = p;
    size_t slen = take(&p, &left, KLOG__SEAL_SIZE);
    const uint8_t *ix = p;
    ilen = take(&p, &left, ilen);
    const uint8_t *tix = p;
    tlen = take(&p, &left, tlen);
    size_t llen = left;
    uint8_t *log = malloc(llen ? llen : 1);
    if (!log)
        abort();
    memcpy(log, p, llen);
    if (flags & 0x01)
        fz_fix_crcs(log, llen);
    fz_reset(flags & 0x02);
    fz_write("00000000000000000000.log", log, llen);
    if (!(flags & 0x10))
        fz_write("00000000000000000000.index", ix, ilen);
    if (!(flags & 0x20))
        fz_write("00000000000000000000.timeindex", tix, tlen);
    int64_t next = walk_next(log, llen);
    if (!(flags & 0x40)) {
        uint8_t sb[KLOG__SEAL_SIZE];
        memset(sb, 0, sizeof sb);
        memcpy(sb, seal, slen);
        klog__seal_t s;
        if ((flags & 0x04) && klog__seal_decode(sb, sizeof sb, &s) != 0) {
            /* Rebuild from the raw fields so mutations of them still count. */
            memset(&s, 0, sizeof s);
            s.next_offset = (int64_t)klog__load64(sb + 24);
            s.max_timestamp = (int64_t)klog__load64(sb + 32);
            s.max_ts_offset = (int64_t)klog__load64(sb + 40);
            s.index_entries = klog__load32(sb + 64);
            s.timeindex_entries = klog__load32(sb + 68);
        }
        if (flags & 0x04) {
            s.base_offset = 0;
            if (s.next_offset < 0)
                s.next_offset = next;
            if ((s.max_timestamp == -1) != (s.max_ts_offset == -1) ||
                (s.max_ts_offset != -1 &&
                 (s.max_ts_offset < 0 || s.max_ts_offset >= s.next_offset)))
                s.max_timestamp = s.max_ts_offset = -1;
            s.log_size = (int64_t)llen;
            s.log_digest = XXH3_64bits(log, llen);
            klog__seal_encode(&s, sb);
            if (s.next_offset > 0)
                next = s.next_offset;
        }
        fz_write("00000000000000000000.seal", sb, sizeof sb);
    }
    if (flags & 0x08) {
        char name[64];
        snprintf(name, sizeof name, "%020lld.log", (long long)next);
        fz_write(name, NULL, 0);
    }
    free(log);
    fz_exercise((flags & 0x48) != 0);
    return 0;
}
