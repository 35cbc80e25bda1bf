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
 *  - carry-less multiplication (AVX-512 with VPCLMULQDQ, chosen at run
 *    time; buffers of 256 bytes and more): the crc32q lanes above peak at
 *    8 bytes a cycle, while 4 x 64-byte registers folded with vpclmulqdq
 *    take 64 bytes per pair of multiplications. Folding a 128-bit piece C
 *    of the stream D bits forward replaces it by a piece congruent to
 *    C * x^D mod P:  fold(C) = clmul(C.lo, k_hi) ^ clmul(C.hi, k_lo), with
 *    k_hi = x^(D+63) mod P and k_lo = x^(D-1) mod P bit-reflected to 64
 *    bits (computed at start-up by fold_const, not copied from tables).
 *    The register enters by xor into the first 4 bytes, the last piece
 *    left is fed to crc32q from a zero register (the CRC of a 16-byte
 *    message congruent to the whole), and the tail under 16 bytes takes
 *    the crc32q path.
 *
 *  - hybrid (VPCLMULQDQ with AVX2 but no AVX-512, as AMD Zen 3; buffers of
 *    248 bytes and more): there a 32-byte vpclmulqdq takes two cycles, so
 *    folding alone is no faster than the crc32q lanes; but the two run on
 *    different units. A block of t turns folds its first 128 t bytes in
 *    four 32-byte registers while three crc32q lanes take 40 t bytes each,
 *    in one loop; the four registers are joined by
 *        crc(A||B) = shift_|B|(crc(A)) ^ crc0(B)
 *    with shift_L(c) = crc32q(0, clmul(c, x^(8L-33) mod P)), one constant
 *    per lane length tabulated at start-up: about 1.8x the lanes' speed.
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
enum { FOLD_NONE, FOLD_AVX2, FOLD_AVX512 };

static int hw_ok;
static int fold_ok; /* the best FOLD_* level this CPU runs */
static uint64_t fold_k[6][2]; /* {k_hi, k_lo} for D = 2048, 512, 384, 256, 128, 1024 bits */

/* The hybrid's turn: HYB_FOLD bytes folded, three lanes of HYB_LANE bytes
 * (the two units' speeds on AMD Zen 3: ~8 bytes a cycle each). */
#define HYB_FOLD 128
#define HYB_LANE 40
#define HYB_TURN (HYB_FOLD + 3 * HYB_LANE)
#define HYB_TMAX 64
static uint64_t hyb_k[3 * HYB_TMAX]; /* [m - 1]: x^(8 HYB_LANE m - 33) mod P, 32-bit reflected */
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

/* P = x^32 + the bit-reversed POLY, as a normal polynomial (bit i: x^i). */
static uint64_t poly_p(void)
{
    uint64_t p = 1ULL << 32;
    for (int i = 0; i < 32; i++)
        if (POLY >> i & 1)
            p |= 1ULL << (31 - i);
    return p;
}

/* x^k mod P as a normal polynomial. */
static uint64_t xpow_mod(unsigned k)
{
    uint64_t p = poly_p(), r = 1;
    while (k--) {
        r <<= 1;
        if (r >> 32)
            r ^= p;
    }
    return r;
}

/* a * b mod P (both reduced), by Horner's rule over b's bits. */
static uint64_t mul_mod(uint64_t a, uint64_t b)
{
    uint64_t p = poly_p(), r = 0;
    for (int i = 31; i >= 0; i--) {
        r <<= 1;
        if (r >> 32)
            r ^= p;
        if (b >> i & 1)
            r ^= a;
    }
    return r;
}

/* v bit-reflected to `bits` bits (x^i to bit bits - 1 - i). */
static uint64_t reflect(uint64_t v, int bits)
{
    uint64_t r = 0;
    for (int i = 0; i < bits; i++)
        if (v >> i & 1)
            r |= 1ULL << (bits - 1 - i);
    return r;
}

/* Folding constants are reflected to 64 bits: the register's order. */
static uint64_t fold_const(unsigned k)
{
    return reflect(xpow_mod(k), 64);
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
    if (hw_ok && __builtin_cpu_supports("vpclmulqdq") && __builtin_cpu_supports("pclmul")) {
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl"))
            fold_ok = FOLD_AVX512;
        else if (__builtin_cpu_supports("avx2"))
            fold_ok = FOLD_AVX2;
    }
#endif
    static const unsigned dist[6] = {2048, 512, 384, 256, 128, 1024};
    for (int i = 0; i < 6; i++) {
        fold_k[i][0] = fold_const(dist[i] + 63);
        fold_k[i][1] = fold_const(dist[i] - 1);
    }
    uint64_t pw = 1, step = xpow_mod(8 * HYB_LANE), back = xpow_mod(8 * HYB_LANE - 33);
    for (int m = 1; m <= 3 * HYB_TMAX; m++) { /* pw = x^(8 HYB_LANE (m - 1)) */
        hyb_k[m - 1] = reflect(mul_mod(pw, back), 32);
        pw = mul_mod(pw, step);
    }
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

/* No alignment prologue: crc32q takes unaligned operands at full speed on
 * the CPUs with SSE4.2, and a batch's CRC starts at byte 21. The tail is
 * at most one 4-, one 2- and one 1-byte step. */
__attribute__((target("sse4.2"))) static uint32_t hw_raw(uint32_t crc, const uint8_t *p, size_t n)
{
    uint64_t c0 = crc;
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
    uint32_t c = (uint32_t)c0;
    if (n & 4) {
        uint32_t v;
        memcpy(&v, p, 4);
        c = _mm_crc32_u32(c, v);
        p += 4;
    }
    if (n & 2) {
        uint16_t v;
        memcpy(&v, p, 2);
        c = _mm_crc32_u16(c, v);
        p += 2;
    }
    if (n & 1)
        c = _mm_crc32_u8(c, *p);
    return c;
}

#include <immintrin.h>

#define FOLD_TARGET __attribute__((target("avx512f,avx512vl,vpclmulqdq,pclmul,sse4.2")))

/* x folded forward by k's distance, xor d: each 128-bit lane on its own. */
FOLD_TARGET static inline __m512i fold512(__m512i x, __m512i k, __m512i d)
{
    return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00),
                                     _mm512_clmulepi64_epi128(x, k, 0x11), d, 0x96);
}

FOLD_TARGET static inline __m128i fold128(__m128i x, const uint64_t k[2], __m128i d)
{
    __m128i kk = _mm_set_epi64x((long long)k[1], (long long)k[0]);
    return _mm_ternarylogic_epi64(_mm_clmulepi64_si128(x, kk, 0x00),
                                  _mm_clmulepi64_si128(x, kk, 0x11), d, 0x96);
}

FOLD_TARGET static inline __m512i kvec(const uint64_t k[2])
{
    return _mm512_broadcast_i32x4(_mm_set_epi64x((long long)k[1], (long long)k[0]));
}

/* The raw register after the whole 16-byte pieces of p[0, n), n >= 256;
 * *used: the bytes consumed (n rounded down to 16). */
FOLD_TARGET static uint32_t fold_raw(uint32_t crc, const uint8_t *p, size_t n, size_t *used)
{
    const uint8_t *start = p;
    __m512i x0 = _mm512_loadu_si512(p), x1 = _mm512_loadu_si512(p + 64);
    __m512i x2 = _mm512_loadu_si512(p + 128), x3 = _mm512_loadu_si512(p + 192);
    x0 = _mm512_xor_si512(x0, _mm512_zextsi128_si512(_mm_cvtsi32_si128((int)crc)));
    p += 256, n -= 256;
    __m512i k = kvec(fold_k[0]);
    while (n >= 256) {
        x0 = fold512(x0, k, _mm512_loadu_si512(p));
        x1 = fold512(x1, k, _mm512_loadu_si512(p + 64));
        x2 = fold512(x2, k, _mm512_loadu_si512(p + 128));
        x3 = fold512(x3, k, _mm512_loadu_si512(p + 192));
        p += 256, n -= 256;
    }
    k = kvec(fold_k[1]);
    x1 = fold512(x0, k, x1);
    x2 = fold512(x1, k, x2);
    x3 = fold512(x2, k, x3);
    while (n >= 64) {
        x3 = fold512(x3, k, _mm512_loadu_si512(p));
        p += 64, n -= 64;
    }
    __m128i v = _mm512_extracti32x4_epi32(x3, 3);
    v = fold128(_mm512_extracti32x4_epi32(x3, 0), fold_k[2], v);
    v = fold128(_mm512_extracti32x4_epi32(x3, 1), fold_k[3], v);
    v = fold128(_mm512_extracti32x4_epi32(x3, 2), fold_k[4], v);
    while (n >= 16) {
        v = fold128(v, fold_k[4], _mm_loadu_si128((const __m128i *)p));
        p += 16, n -= 16;
    }
    uint64_t c = _mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(v));
    c = _mm_crc32_u64(c, (uint64_t)_mm_extract_epi64(v, 1));
    *used = (size_t)(p - start);
    return (uint32_t)c;
}

#define FOLD2_TARGET __attribute__((target("avx2,vpclmulqdq,pclmul,sse4.2")))

FOLD2_TARGET static inline __m256i fold256(__m256i x, __m256i k, __m256i d)
{
    return _mm256_xor_si256(_mm256_xor_si256(_mm256_clmulepi64_epi128(x, k, 0x00),
                                             _mm256_clmulepi64_epi128(x, k, 0x11)),
                            d);
}

FOLD2_TARGET static inline __m256i kvec256(const uint64_t k[2])
{
    return _mm256_broadcastsi128_si256(_mm_set_epi64x((long long)k[1], (long long)k[0]));
}

/* The register after `len` more zero bytes, len = HYB_LANE * m:
 * crc32q(0, clmul(crc, x^(8 len - 33) mod P)) (hyb_k holds those). */
FOLD2_TARGET static inline uint32_t hyb_shift(uint32_t crc, uint64_t k)
{
    __m128i v = _mm_clmulepi64_si128(_mm_cvtsi32_si128((int)crc), _mm_cvtsi64_si128((long long)k), 0);
    return (uint32_t)_mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(v));
}

#define LOAD256(q) _mm256_loadu_si256((const __m256i *)(q))
#define HYB_LANES3(k)                                                          \
    do {                                                                       \
        ca = hw_step(ca, a + (k));                                             \
        cb = hw_step(cb, b + (k));                                             \
        cc = hw_step(cc, c + (k));                                             \
    } while (0)

/* One block of t turns (1 <= t <= HYB_TMAX): the first HYB_FOLD * t bytes
 * folded in four 32-byte registers while three crc32q lanes of HYB_LANE * t
 * bytes each take the rest, so both units work at once. */
FOLD2_TARGET static uint32_t hyb_block(uint32_t crc, const uint8_t *p, int t)
{
    const size_t lane = (size_t)HYB_LANE * (size_t)t;
    const uint8_t *a = p + (size_t)HYB_FOLD * (size_t)t, *b = a + lane, *c = b + lane;
    const uint8_t *f = p + HYB_FOLD; /* three pointers: GCC spills base + offsets */
    __m256i x0 = LOAD256(p), x1 = LOAD256(p + 32), x2 = LOAD256(p + 64), x3 = LOAD256(p + 96);
    x0 = _mm256_xor_si256(x0, _mm256_zextsi128_si256(_mm_cvtsi32_si128((int)crc)));
    uint64_t ca = 0, cb = 0, cc = 0;
    __m256i k = kvec256(fold_k[5]); /* 1024 bits: four registers on */
    for (int i = 1;; i++) {
        HYB_LANES3(0);
        HYB_LANES3(8);
        HYB_LANES3(16);
        HYB_LANES3(24);
        HYB_LANES3(32);
        a += HYB_LANE, b += HYB_LANE, c += HYB_LANE;
        if (i == t)
            break;
        x0 = fold256(x0, k, LOAD256(f));
        x1 = fold256(x1, k, LOAD256(f + 32));
        x2 = fold256(x2, k, LOAD256(f + 64));
        x3 = fold256(x3, k, LOAD256(f + 96));
        f += HYB_FOLD;
    }
    k = kvec256(fold_k[3]); /* 256 bits: one register on */
    x1 = fold256(x0, k, x1);
    x3 = fold256(x2, k, x3);
    x3 = fold256(x1, kvec256(fold_k[1]), x3); /* 512 bits */
    __m128i kk = _mm_set_epi64x((long long)fold_k[4][1], (long long)fold_k[4][0]);
    __m128i lo = _mm256_castsi256_si128(x3);
    __m128i v = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(lo, kk, 0x00),
                                            _mm_clmulepi64_si128(lo, kk, 0x11)),
                              _mm256_extracti128_si256(x3, 1));
    uint64_t cf = _mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(v));
    cf = _mm_crc32_u64(cf, (uint64_t)_mm_extract_epi64(v, 1));
    return hyb_shift((uint32_t)cf, hyb_k[3 * t - 1]) ^ hyb_shift((uint32_t)ca, hyb_k[2 * t - 1]) ^
           hyb_shift((uint32_t)cb, hyb_k[t - 1]) ^ (uint32_t)cc;
}

/* Blocks of up to HYB_TMAX turns while a turn is left; the raw register. */
FOLD2_TARGET static uint32_t hyb_raw(uint32_t crc, const uint8_t *p, size_t n, size_t *used)
{
    const uint8_t *start = p;
    while (n >= HYB_TURN) {
        size_t t = n / HYB_TURN;
        if (t > HYB_TMAX)
            t = HYB_TMAX;
        crc = hyb_block(crc, p, (int)t);
        p += HYB_TURN * t, n -= HYB_TURN * t;
    }
    *used = (size_t)(p - start);
    return crc;
}

/* Folding at `level` (FOLD_AVX512 or FOLD_AVX2) for long buffers, then the
 * crc32q lanes for what is left. */
static inline uint32_t fold_then_hw(int level, uint32_t crc, const uint8_t *p, size_t n)
{
    if (level && n >= (level == FOLD_AVX512 ? 256 : HYB_TURN)) {
        size_t used;
        crc = level == FOLD_AVX512 ? fold_raw(crc, p, n, &used) : hyb_raw(crc, p, n, &used);
        p += used, n -= used;
    }
    return hw_raw(crc, p, n);
}

/* The best path for this CPU: folding for long buffers, crc32q lanes else. */
static inline uint32_t best_raw(uint32_t crc, const uint8_t *p, size_t n)
{
    return fold_then_hw(fold_ok, crc, p, n);
}
#else
static uint32_t hw_raw(uint32_t crc, const uint8_t *p, size_t n)
{
    return sw_raw(crc, p, n);
}

static uint32_t best_raw(uint32_t crc, const uint8_t *p, size_t n)
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

uint32_t klog__crc32c_fold(uint32_t crc, const void *buf, size_t len)
{
    ensure_tables();
    return hw_ok ? ~best_raw(~crc, buf, len) : ~sw_raw(~crc, buf, len);
}

uint32_t klog__crc32c_fold_avx2(uint32_t crc, const void *buf, size_t len)
{
    ensure_tables();
    if (!hw_ok)
        return ~sw_raw(~crc, buf, len);
#if defined(__x86_64__) && defined(__GNUC__)
    return ~fold_then_hw(fold_ok ? FOLD_AVX2 : FOLD_NONE, ~crc, buf, len);
#else
    return ~hw_raw(~crc, buf, len);
#endif
}

int klog__crc32c_hw_available(void)
{
    ensure_tables();
    return hw_ok;
}

int klog__crc32c_fold_available(void)
{
    ensure_tables();
    return fold_ok;
}

uint32_t klog_crc32c(uint32_t crc, const void *buf, size_t len)
{
    ensure_tables();
    if (KLOG__LIKELY(hw_ok))
        return ~best_raw(~crc, buf, len);
    return ~sw_raw(~crc, buf, len);
}
