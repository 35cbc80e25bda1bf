/*
 * fuzz_segment.c — record iteration across a whole .log of arbitrary bytes.
 *
 * Input: one mode byte, then the .log. Mode bit 0: give every batch-shaped
 * span its right CRC-32C first (so mutations reach the record decoder).
 * Bit 1: store the bytes as a sealed, inactive segment (a seal that matches
 * the size and digest, empty indexes, an empty active segment after it):
 * the bytes are then trusted at open and only reads can notice damage.
 * Otherwise they are the active segment of an unclean shutdown and open
 * scans them. Either way the log is opened and everything iterated (see
 * fuzz_logdir.h for the invariants).
 */
#include <xxhash.h>

#include "fuzz_logdir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1 << 20))
        return 0;
    fz_init();
    unsigned mode = data[0];
    size_t len = size - 1;
    uint8_t *log = malloc(len ? len : 1);
    if (!log)
        abort();
    memcpy(log, data + 1, len);
    if (mode & 1)
        fz_fix_crcs(log, len);
    fz_reset(0);
    fz_write("00000000000000000000.log", log, len);
    if (mode & 2) {
        klog__seal_t s = {.base_offset = 0, .next_offset = walk_next(log, len),
                          .max_timestamp = -1, .max_ts_offset = -1, .log_size = (int64_t)len,
                          .log_digest = XXH3_64bits(log, len)};
        if (klog__seal_write(fz_part, "00000000000000000000.seal", &s)) {
            free(log); /* offsets beyond one segment's range: no seal for that */
            return 0;
        }
        fz_write("00000000000000000000.index", NULL, 0);
        fz_write("00000000000000000000.timeindex", NULL, 0);
        char name[64];
        snprintf(name, sizeof name, "%020lld.log", (long long)s.next_offset);
        fz_write(name, NULL, 0);
    }
    free(log);
    fz_exercise(1);
    return 0;
}
