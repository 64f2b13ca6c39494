// Dot products of a stored weight row with an f32 activation vector, in AVX2 and in AVX-512 (x86-64,
// with F16C; chosen at run time, see abl_dot_level). TensorKit's `NativeDot` wraps them; the
// portable Swift kernels of `DirectDot` define what each one computes, bit for bit:
//
//   s = sum_i w_i * x_i, w_i exactly as Dequantization writes it, value i added to lane i mod 16 of
//   accumulator (i / 16) mod 2, then the 16 lanes of the two accumulators' sum reduced as a tree
//   (halves added: 16 → 8 → 4 → 2 → 1, DirectDot.reduce), then (dense rows only) a scalar tail past the
//   last whole 32. No fused multiply-add anywhere.
//
// `count` is the row length (a whole number of blocks for the block types); rows need no alignment.
#ifndef ABLITERATE_CDOTKERNELS_H
#define ABLITERATE_CDOTKERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The kernels this CPU runs: 0 none (not x86-64, or no AVX2/F16C), 1 the AVX2 ones, 2 the AVX-512 ones too.
int abl_dot_level(void);

float abl_dot_f32_avx2(const void *row, const float *x, ptrdiff_t count);
float abl_dot_bf16_avx2(const void *row, const float *x, ptrdiff_t count);
float abl_dot_f16_avx2(const void *row, const float *x, ptrdiff_t count);
float abl_dot_q4_0_avx2(const void *row, const float *x, ptrdiff_t count);
float abl_dot_q4_1_avx2(const void *row, const float *x, ptrdiff_t count);
float abl_dot_q5_0_avx2(const void *row, const float *x, ptrdiff_t count);
float abl_dot_q8_0_avx2(const void *row, const float *x, ptrdiff_t count);
float abl_dot_q4_k_avx2(const void *row, const float *x, ptrdiff_t count);
float abl_dot_q6_k_avx2(const void *row, const float *x, ptrdiff_t count);

float abl_dot_f32_avx512(const void *row, const float *x, ptrdiff_t count);
float abl_dot_bf16_avx512(const void *row, const float *x, ptrdiff_t count);
float abl_dot_f16_avx512(const void *row, const float *x, ptrdiff_t count);
float abl_dot_q4_0_avx512(const void *row, const float *x, ptrdiff_t count);
float abl_dot_q4_1_avx512(const void *row, const float *x, ptrdiff_t count);
float abl_dot_q5_0_avx512(const void *row, const float *x, ptrdiff_t count);
float abl_dot_q8_0_avx512(const void *row, const float *x, ptrdiff_t count);
float abl_dot_q4_k_avx512(const void *row, const float *x, ptrdiff_t count);
float abl_dot_q6_k_avx512(const void *row, const float *x, ptrdiff_t count);

#ifdef __cplusplus
}
#endif

#endif
