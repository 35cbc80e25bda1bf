/*
 * crc32c.c — CRC-32C (Castagnoli), the checksum of RecordBatch v2.
 *
 * Parameters: reflected polynomial 0x82F63B78, initial value and final xor
 * 0xFFFFFFFF, so check("123456789") = 0xE3069283. A batch stores the CRC of
 * bytes [21, end) big-endian at offset 17 (kafka-format.md 1.2).
 *
 * Convention: klog_crc32c(crc, buf, len) takes and returns a finished CRC
 * (start with 0), so CRC(a||b) = klog_crc32c(klog_crc32c(0, a), b). Inside,
 * the "raw" register (the inverted value) is carried: raw functions neither
 * invert on entry nor on exit, which makes them linear in the register.
 *
 * Two implementations:
 *  - portable: slicing-by-8. Table k maps a byte to the CRC of that byte
 *    followed by k zero bytes, so 8 input bytes fold in with 8 lookups.
 *  - SSE4.2 (x86-64, chosen at run time): the crc32q instruction has a
 *    latency of ~3 cycles but a throughput of one per cycle, so one stream
 *    runs at a third of the machine's speed. Long buffers are cut into
 *    blocks of three equal lanes that are checksummed in parallel, lane 1
 *    and 2 from a zero register; then the lanes are joined:
 *        crc(A||B) = shift_|B|(crc(A)) ^ crc0(B)
 *    where shift_L multiplies the register by x^(8L) mod P, i.e. feeds it L
 *    zero bytes. shift_L is linear over GF(2), so for each fixed lane
 *    length it is tabulated once as four 256-entry tables (one per register
 *    byte): four lookups per join instead of L/8 instructions.
 *
 * All tables are built once, on first use, under pthread_once.
 */
#include <pthread.h>
#include <string.h>

#include "codec/codec.h"
#include "platform/bytes.h"

#define POLY 0x82F63B78u

/* Lane lengths for the interleaved hardware path (multiples of 32). */
#define LANE_LONG 2048
#define LANE_SHORT 256

static uint32_t sw_table[8][256];
static uint32_t shift_long[4][256];
static uint32_t shift_short[4][256];
static int hw_ok;
static int tables_ready;
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static uint32_t sw_raw(uint32_t crc, const uint8_t *p, size_t n)
{
    while (n && ((uintptr_t)p & 7)) {
        crc = sw_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
        n--;
    }
    while (n >= 8) {
        uint32_t lo = klog__load32le(p) ^ crc;
        uint32_t hi = klog__load32le(p + 4);
        crc = sw_table[7][lo & 0xff] ^ sw_table[6][(lo >> 8) & 0xff] ^
              sw_table[5][(lo >> 16) & 0xff] ^ sw_table[4][lo >> 24] ^
              sw_table[3][hi & 0xff] ^ sw_table[2][(hi >> 8) & 0xff] ^
              sw_table[1][(hi >> 16) & 0xff] ^ sw_table[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--)
        crc = sw_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

/* The register after feeding `len` zero bytes: multiplication by x^(8 len). */
static uint32_t zeros_raw(uint32_t crc, size_t len)
{
    static const uint8_t zeros[256];
    while (len) {
        size_t k = len < sizeof zeros ? len : sizeof zeros;
        crc = sw_raw(crc, zeros, k);
        len -= k;
    }
    return crc;
}

/* Tabulate shift_len: table[k][v] = shift of the register v << 8k. Built
 * from the 32 basis vectors by linearity. */
static void build_shift(uint32_t table[4][256], size_t len)
{
    uint32_t basis[32];
    for (int i = 0; i < 32; i++)
        basis[i] = zeros_raw(1u << i, len);
    for (int k = 0; k < 4; k++)
        for (unsigned v = 0; v < 256; v++) {
            uint32_t r = 0;
            for (int j = 0; j < 8; j++)
                if (v & (1u << j))
                    r ^= basis[8 * k + j];
            table[k][v] = r;
        }
}

static inline uint32_t shift(const uint32_t table[4][256], uint32_t crc)
{
    return table[0][crc & 0xff] ^ table[1][(crc >> 8) & 0xff] ^ table[2][(crc >> 16) & 0xff] ^
           table[3][crc >> 24];
}

static void tables_init(void)
{
    for (unsigned n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
        sw_table[0][n] = c;
    }
    for (unsigned n = 0; n < 256; n++)
        for (int k = 1; k < 8; k++) {
            uint32_t prev = sw_table[k - 1][n];
            sw_table[k][n] = (prev >> 8) ^ sw_table[0][prev & 0xff];
        }
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    hw_ok = __builtin_cpu_supports("sse4.2") ? 1 : 0;
#endif
    if (hw_ok) {
        build_shift(shift_long, LANE_LONG);
        build_shift(shift_short, LANE_SHORT);
    }
    __atomic_store_n(&tables_ready, 1, __ATOMIC_RELEASE);
}

static inline void ensure_tables(void)
{
    if (KLOG__UNLIKELY(!__atomic_load_n(&tables_ready, __ATOMIC_ACQUIRE)))
        pthread_once(&tables_once, tables_init);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <nmmintrin.h>

__attribute__((target("sse4.2"))) static inline uint64_t hw_step(uint64_t crc, const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8); /* x86 is little-endian: bytes in stream order */
    return _mm_crc32_u64(crc, v);
}

#define HW_STEP3(lane, k)                                                      \
    do {                                                                       \
        c0 = hw_step(c0, p + (k));                                             \
        c1 = hw_step(c1, p + (lane) + (k));                                    \
        c2 = hw_step(c2, p + 2 * (lane) + (k));                                \
    } while (0)

/* Three interleaved lanes of `lane` bytes each, starting at p. */
#define HW_BLOCK(lane, table)                                                  \
    while (n >= 3 * (size_t)(lane)) {                                          \
        uint64_t c1 = 0, c2 = 0;                                               \
        const uint8_t *stop = p + (lane);                                      \
        do { /* 32 bytes of each lane per turn: 12 crc32q, 3 loop ops */     \
            HW_STEP3(lane, 0);                                                 \
            HW_STEP3(lane, 8);                                                 \
            HW_STEP3(lane, 16);                                                \
            HW_STEP3(lane, 24);                                                \
            p += 32;                                                           \
        } while (p < stop);                                                    \
        c0 = shift(table, (uint32_t)c0) ^ (uint32_t)c1;                        \
        c0 = shift(table, (uint32_t)c0) ^ (uint32_t)c2;                        \
        p += 2 * (lane);                                                       \
        n -= 3 * (size_t)(lane);                                               \
    }

__attribute__((target("sse4.2"))) static uint32_t hw_raw(uint32_t crc, const uint8_t *p, size_t n)
{
    uint64_t c0 = crc;
    while (n && ((uintptr_t)p & 7)) {
        c0 = _mm_crc32_u8((uint32_t)c0, *p++);
        n--;
    }
    HW_BLOCK(LANE_LONG, shift_long)
    HW_BLOCK(LANE_SHORT, shift_short)
    while (n >= 32) {
        c0 = hw_step(c0, p);
        c0 = hw_step(c0, p + 8);
        c0 = hw_step(c0, p + 16);
        c0 = hw_step(c0, p + 24);
        p += 32;
        n -= 32;
    }
    while (n >= 8) {
        c0 = hw_step(c0, p);
        p += 8;
        n -= 8;
    }
    while (n--)
        c0 = _mm_crc32_u8((uint32_t)c0, *p++);
    return (uint32_t)c0;
}
#else
static uint32_t hw_raw(uint32_t crc, const uint8_t *p, size_t n)
{
    return sw_raw(crc, p, n);
}
#endif

uint32_t klog__crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
    ensure_tables();
    return ~sw_raw(~crc, buf, len);
}

uint32_t klog__crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
    ensure_tables();
    return hw_ok ? ~hw_raw(~crc, buf, len) : ~sw_raw(~crc, buf, len);
}

int klog__crc32c_hw_available(void)
{
    ensure_tables();
    return hw_ok;
}

uint32_t klog_crc32c(uint32_t crc, const void *buf, size_t len)
{
    ensure_tables();
    if (KLOG__LIKELY(hw_ok))
        return ~hw_raw(~crc, buf, len);
    return ~sw_raw(~crc, buf, len);
}
