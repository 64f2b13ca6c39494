// The kernels of DotKernelsBody.h for AVX-512 (F + F16C): a 16-lane value is one __m512.
#include "CDotKernels.h"

#pragma clang fp contract(off)

#if defined(__x86_64__)
#include <immintrin.h>

#define ABL_TARGET __attribute__((target("avx512f,avx2,f16c")))
#define ABL_NAME(kernel) abl_dot_##kernel##_avx512

typedef __m512 abl_f32x16;

ABL_TARGET static inline abl_f32x16 zero16(void) { return _mm512_setzero_ps(); }

/// acc += w * x[0..<16], lane by lane.
ABL_TARGET static inline void add16(abl_f32x16 *acc, abl_f32x16 w, const float *x) {
    *acc = _mm512_add_ps(*acc, _mm512_mul_ps(w, _mm512_loadu_ps(x)));
}

/// The lanes of a0 + a1 folded to 8, as DirectDot.reduce's first two steps: (a0 + a1)[0..<8] + (a0 + a1)[8..<16].
ABL_TARGET static inline __m256 fold16(abl_f32x16 a0, abl_f32x16 a1) {
    __m512 t = _mm512_add_ps(a0, a1);
    return _mm256_add_ps(_mm512_castps512_ps256(t), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(t), 1)));
}

ABL_TARGET static inline abl_f32x16 u8x16(__m128i b) { return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(b)); }
ABL_TARGET static inline abl_f32x16 i8x16(__m128i b) { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b)); }
ABL_TARGET static inline abl_f32x16 scale16(abl_f32x16 v, float a) { return _mm512_mul_ps(_mm512_set1_ps(a), v); }
ABL_TARGET static inline abl_f32x16 offset16(abl_f32x16 v, float b) { return _mm512_add_ps(v, _mm512_set1_ps(b)); }

ABL_TARGET static inline abl_f32x16 load_f32(const float *p) { return _mm512_loadu_ps(p); }

/// 16 bf16 values (32 bytes) as f32: the bits shifted up by 16.
ABL_TARGET static inline abl_f32x16 load_bf16(const uint8_t *p) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
}

ABL_TARGET static inline abl_f32x16 load_f16(const uint8_t *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}

/// (nibbles | fifth bits) − 16 for 16 lanes: nibble bytes `n`, fifth bits from bit `first` of `h`.
ABL_TARGET static inline abl_f32x16 q5_values(__m128i n, uint32_t h, int first) {
    const __m512i shifts = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512i bits = _mm512_srlv_epi32(_mm512_set1_epi32((int)(h >> first)), shifts);
    bits = _mm512_slli_epi32(_mm512_and_si512(bits, _mm512_set1_epi32(1)), 4);
    __m512i v = _mm512_or_si512(_mm512_cvtepu8_epi32(n), bits);
    return offset16(_mm512_cvtepi32_ps(v), -16.0f);
}

#include "DotKernelsBody.h"

#endif
