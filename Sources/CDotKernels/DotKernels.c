// Which of the kernel families this CPU runs (CDotKernels.h); the kernels themselves are in
// DotKernelsAVX2.c and DotKernelsAVX512.c, both built from DotKernelsBody.h.
#include "CDotKernels.h"

#if defined(__x86_64__)

int abl_dot_level(void) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("f16c")) return 0;
    return __builtin_cpu_supports("avx512f") ? 2 : 1;
}

#else  // not x86-64: level 0, and the portable Swift kernels run; these are never called.

int abl_dot_level(void) { return 0; }
float abl_dot_f32_avx2(const void *row, const float *x, ptrdiff_t count) { (void)row; (void)x; (void)count; return 0; }
float abl_dot_bf16_avx2(const void *row, const float *x, ptrdiff_t count) { (void)row; (void)x; (void)count; return 0; }
float abl_dot_f16_avx2(const void *row, const float *x, ptrdiff_t count) { (void)row; (void)x; (void)count; return 0; }
float abl_dot_q4_0_avx2(const void *row, const float *x, ptrdiff_t count) { (void)row; (void)x; (void)count; return 0; }
float abl_dot_q4_1_avx2(const void *row, const float *x, ptrdiff_t count) { (void)row; (void)x; (void)count; return 0; }
float abl_dot_q5_0_avx2(const void *row, const float *x, ptrdiff_t count) { (void)row; (void)x; (void)count; return 0; }
float abl_dot_q8_0_avx2(const void *row, const float *x, ptrdiff_t count) { (void)row; (void)x; (void)count; return 0; }
float abl_dot_q4_k_avx2(const void *row, const float *x, ptrdiff_t count) { (void)row; (void)x; (void)count; return 0; }
float abl_dot_q6_k_avx2(const void *row, const float *x, ptrdiff_t count) { (void)row; (void)x; (void)count; return 0; }
float abl_dot_f32_avx512(const void *row, const float *x, ptrdiff_t count) { (void)row; (void)x; (void)count; return 0; }
float abl_dot_bf16_avx512(const void *row, const float *x, ptrdiff_t count) { (void)row; (void)x; (void)count; return 0; }
float abl_dot_f16_avx512(const void *row, const float *x, ptrdiff_t count) { (void)row; (void)x; (void)count; return 0; }
float abl_dot_q4_0_avx512(const void *row, const float *x, ptrdiff_t count) { (void)row; (void)x; (void)count; return 0; }
float abl_dot_q4_1_avx512(const void *row, const float *x, ptrdiff_t count) { (void)row; (void)x; (void)count; return 0; }
float abl_dot_q5_0_avx512(const void *row, const float *x, ptrdiff_t count) { (void)row; (void)x; (void)count; return 0; }
float abl_dot_q8_0_avx512(const void *row, const float *x, ptrdiff_t count) { (void)row; (void)x; (void)count; return 0; }
float abl_dot_q4_k_avx512(const void *row, const float *x, ptrdiff_t count) { (void)row; (void)x; (void)count; return 0; }
float abl_dot_q6_k_avx512(const void *row, const float *x, ptrdiff_t count) { (void)row; (void)x; (void)count; return 0; }

#endif
