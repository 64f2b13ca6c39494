// The kernels of DotKernelsBody.h for AVX2 (+ F16C): a 16-lane value is two __m256 (lanes 0-7, 8-15).
#include "CDotKernels.h"

#pragma clang fp contract(off)

#if defined(__x86_64__)
#include <immintrin.h>

#define ABL_TARGET __attribute__((target("avx2,f16c")))
#define ABL_NAME(kernel) abl_dot_##kernel##_avx2

typedef struct { __m256 lo, hi; } abl_f32x16;

ABL_TARGET static inline abl_f32x16 zero16(void) {
    abl_f32x16 r = { _mm256_setzero_ps(), _mm256_setzero_ps() };
    return r;
}

/// acc += w * x[0..<16], lane by lane.
ABL_TARGET static inline void add16(abl_f32x16 *acc, abl_f32x16 w, const float *x) {
    acc->lo = _mm256_add_ps(acc->lo, _mm256_mul_ps(w.lo, _mm256_loadu_ps(x)));
    acc->hi = _mm256_add_ps(acc->hi, _mm256_mul_ps(w.hi, _mm256_loadu_ps(x + 8)));
}

/// The lanes of a0 + a1 folded to 8, as DirectDot.reduce's first two steps: (a0 + a1)[0..<8] + (a0 + a1)[8..<16].
ABL_TARGET static inline __m256 fold16(abl_f32x16 a0, abl_f32x16 a1) {
    return _mm256_add_ps(_mm256_add_ps(a0.lo, a1.lo), _mm256_add_ps(a0.hi, a1.hi));
}

/// 16 unsigned bytes as 16 floats.
ABL_TARGET static inline abl_f32x16 u8x16(__m128i b) {
    abl_f32x16 r = { _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)),
                     _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(b, 8))) };
    return r;
}

/// 16 signed bytes as 16 floats.
ABL_TARGET static inline abl_f32x16 i8x16(__m128i b) {
    abl_f32x16 r = { _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b)),
                     _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(b, 8))) };
    return r;
}

/// a·v + b lane by lane (two roundings), and a·v.
ABL_TARGET static inline abl_f32x16 scale16(abl_f32x16 v, float a) {
    __m256 s = _mm256_set1_ps(a);
    abl_f32x16 r = { _mm256_mul_ps(s, v.lo), _mm256_mul_ps(s, v.hi) };
    return r;
}
ABL_TARGET static inline abl_f32x16 offset16(abl_f32x16 v, float b) {
    __m256 s = _mm256_set1_ps(b);
    abl_f32x16 r = { _mm256_add_ps(v.lo, s), _mm256_add_ps(v.hi, s) };
    return r;
}

ABL_TARGET static inline abl_f32x16 load_f32(const float *p) {
    abl_f32x16 r = { _mm256_loadu_ps(p), _mm256_loadu_ps(p + 8) };
    return r;
}

/// 8 bf16 values (16 bytes) as f32: the bits shifted up by 16.
ABL_TARGET static inline __m256 bf16x8(const uint8_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}

ABL_TARGET static inline abl_f32x16 load_bf16(const uint8_t *p) {
    abl_f32x16 r = { bf16x8(p), bf16x8(p + 16) };
    return r;
}

ABL_TARGET static inline abl_f32x16 load_f16(const uint8_t *p) {
    abl_f32x16 r = { _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16))) };
    return r;
}

/// Bits first..first+7 of h, one per lane, as 0 or 16.
ABL_TARGET static inline __m256i fifth_bits8(uint32_t h, int first) {
    const __m256i shifts = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i v = _mm256_srlv_epi32(_mm256_set1_epi32((int)(h >> first)), shifts);
    return _mm256_slli_epi32(_mm256_and_si256(v, _mm256_set1_epi32(1)), 4);
}

/// (nibbles | fifth bits) − 16 for 16 lanes: nibble bytes `n`, fifth bits from bit `first` of `h`.
ABL_TARGET static inline abl_f32x16 q5_values(__m128i n, uint32_t h, int first) {
    __m256i lo = _mm256_or_si256(_mm256_cvtepu8_epi32(n), fifth_bits8(h, first));
    __m256i hi = _mm256_or_si256(_mm256_cvtepu8_epi32(_mm_srli_si128(n, 8)), fifth_bits8(h, first + 8));
    abl_f32x16 r = { _mm256_cvtepi32_ps(lo), _mm256_cvtepi32_ps(hi) };
    return offset16(r, -16.0f);
}

#include "DotKernelsBody.h"

#endif
