// The kernels' bodies, written once against a 16-lane f32 type `abl_f32x16` and its operations, which
// the including file defines for its instruction set (DotKernelsAVX2.c: two __m256; DotKernelsAVX512.c:
// one __m512), with ABL_TARGET (the target attribute) and ABL_NAME(kernel) (the exported name):
//
//   zero16()              16 zeros               add16(&acc, w, x)   acc += w · x[0..<16], lane by lane
//   fold16(a0, a1)        (a0 + a1)[0..<8] + (a0 + a1)[8..<16], an __m256 (finish() below does the rest)
//   u8x16(b), i8x16(b)    16 unsigned / signed bytes as f32
//   scale16(v, a)         a · v               offset16(v, b)      v + b
//   load_f32/bf16/f16(p)  16 stored values as f32 (exact)
//   q5_values(n, h, k)    (nibble bytes n | bits k..k+15 of h as 16) − 16, as f32
//
// What each kernel computes is pinned by DirectDot.swift's portable kernels (see CDotKernels.h).
// Private to this target: not in include/.

/// The lanes of a0 + a1 summed as DirectDot.reduce does: halves added, 16 → 8 (fold16) → 4 → 2 → 1.
ABL_TARGET static inline float finish(abl_f32x16 a0, abl_f32x16 a1) {
    __m256 t8 = fold16(a0, a1);
    __m128 t4 = _mm_add_ps(_mm256_castps256_ps128(t8), _mm256_extractf128_ps(t8, 1));
    __m128 t2 = _mm_add_ps(t4, _mm_movehl_ps(t4, t4));
    return _mm_cvtss_f32(_mm_add_ss(t2, _mm_movehdup_ps(t2)));
}

ABL_TARGET static inline __m128i load16(const uint8_t *p) { return _mm_loadu_si128((const __m128i *)p); }

/// The two f16 at p and p + 2 as f32 (exact), in lanes 0 and 1. Loaded with one 32-bit movd, which
/// clears the register; the empty asm keeps clang from narrowing it to a 16-bit pinsrw into whatever
/// register is at hand (often an accumulator), which would chain every block to the previous block's sum.
ABL_TARGET static inline __m128 half2(const uint8_t *p) {
    uint32_t h;
    __builtin_memcpy(&h, p, 4);
    __m128i v = _mm_cvtsi32_si128((int)h);
    __asm__("" : "+x"(v));
    return _mm_cvtph_ps(v);
}

ABL_TARGET static inline float lane0(__m128 v) { return _mm_cvtss_f32(v); }
ABL_TARGET static inline float lane1(__m128 v) { return _mm_cvtss_f32(_mm_movehdup_ps(v)); }

/// The f16 at p as f32 (exact), for the scalar tails.
ABL_TARGET static inline float half(const uint8_t *p) {
    uint16_t h;
    __builtin_memcpy(&h, p, 2);
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}


// MARK: dense rows

/// One stored value as f32, for the scalar tails.
typedef float (*abl_scalar_load)(const uint8_t *p);
/// 16 stored values as f32.
typedef abl_f32x16 (*abl_vector_load)(const uint8_t *p);

ABL_TARGET static inline float scalar_f32(const uint8_t *p) { float v; __builtin_memcpy(&v, p, 4); return v; }
ABL_TARGET static inline float scalar_bf16(const uint8_t *p) {
    uint16_t b;
    __builtin_memcpy(&b, p, 2);
    uint32_t bits = (uint32_t)b << 16;
    float v;
    __builtin_memcpy(&v, &bits, 4);
    return v;
}
ABL_TARGET static inline abl_f32x16 vector_f32(const uint8_t *p) { return load_f32((const float *)p); }

/// The dense dot: values of `size` bytes, 32 at a time into the two accumulators, then the scalar tail.
/// Called with constant loaders, which inline.
ABL_TARGET static inline float dense_dot(const uint8_t *w, const float *x, ptrdiff_t count, ptrdiff_t size,
                                         abl_vector_load load, abl_scalar_load scalar) {
    abl_f32x16 a0 = zero16(), a1 = zero16();
    ptrdiff_t i = 0;
    for (; i + 32 <= count; i += 32) {
        add16(&a0, load(w + size * i), x + i);
        add16(&a1, load(w + size * (i + 16)), x + i + 16);
    }
    float s = finish(a0, a1);
    for (; i < count; i++) s += scalar(w + size * i) * x[i];
    return s;
}

ABL_TARGET float ABL_NAME(f32)(const void *row, const float *x, ptrdiff_t count) {
    return dense_dot((const uint8_t *)row, x, count, 4, vector_f32, scalar_f32);
}

ABL_TARGET float ABL_NAME(bf16)(const void *row, const float *x, ptrdiff_t count) {
    return dense_dot((const uint8_t *)row, x, count, 2, load_bf16, scalar_bf16);
}

ABL_TARGET float ABL_NAME(f16)(const void *row, const float *x, ptrdiff_t count) {
    return dense_dot((const uint8_t *)row, x, count, 2, load_f16, half);
}

// MARK: ggml blocks of 32

ABL_TARGET float ABL_NAME(q4_0)(const void *row, const float *x, ptrdiff_t count) {
    const uint8_t *r = (const uint8_t *)row;
    const __m128i low = _mm_set1_epi8(0x0F);
    abl_f32x16 a0 = zero16(), a1 = zero16();
    for (ptrdiff_t b = 0; b < count / 32; b++) {
        const uint8_t *block = r + 18 * b;
        float d = lane0(half2(block));  // d and two bytes of qs
        __m128i q = load16(block + 2);
        abl_f32x16 lo = offset16(u8x16(_mm_and_si128(q, low)), -8.0f);
        abl_f32x16 hi = offset16(u8x16(_mm_and_si128(_mm_srli_epi16(q, 4), low)), -8.0f);
        add16(&a0, scale16(lo, d), x + 32 * b);
        add16(&a1, scale16(hi, d), x + 32 * b + 16);
    }
    return finish(a0, a1);
}

ABL_TARGET float ABL_NAME(q4_1)(const void *row, const float *x, ptrdiff_t count) {
    const uint8_t *r = (const uint8_t *)row;
    const __m128i low = _mm_set1_epi8(0x0F);
    abl_f32x16 a0 = zero16(), a1 = zero16();
    for (ptrdiff_t b = 0; b < count / 32; b++) {
        const uint8_t *block = r + 20 * b;
        __m128 dm = half2(block);
        float d = lane0(dm), m = lane1(dm);
        __m128i q = load16(block + 4);
        add16(&a0, offset16(scale16(u8x16(_mm_and_si128(q, low)), d), m), x + 32 * b);
        add16(&a1, offset16(scale16(u8x16(_mm_and_si128(_mm_srli_epi16(q, 4), low)), d), m), x + 32 * b + 16);
    }
    return finish(a0, a1);
}

ABL_TARGET float ABL_NAME(q5_0)(const void *row, const float *x, ptrdiff_t count) {
    const uint8_t *r = (const uint8_t *)row;
    const __m128i low = _mm_set1_epi8(0x0F);
    abl_f32x16 a0 = zero16(), a1 = zero16();
    for (ptrdiff_t b = 0; b < count / 32; b++) {
        const uint8_t *block = r + 22 * b;
        float d = lane0(half2(block));
        uint32_t qh;
        __builtin_memcpy(&qh, block + 2, 4);
        __m128i q = load16(block + 6);
        add16(&a0, scale16(q5_values(_mm_and_si128(q, low), qh, 0), d), x + 32 * b);
        add16(&a1, scale16(q5_values(_mm_and_si128(_mm_srli_epi16(q, 4), low), qh, 16), d), x + 32 * b + 16);
    }
    return finish(a0, a1);
}

ABL_TARGET float ABL_NAME(q8_0)(const void *row, const float *x, ptrdiff_t count) {
    const uint8_t *r = (const uint8_t *)row;
    abl_f32x16 a0 = zero16(), a1 = zero16();
    for (ptrdiff_t b = 0; b < count / 32; b++) {
        const uint8_t *block = r + 34 * b;
        float d = lane0(half2(block));
        add16(&a0, scale16(i8x16(load16(block + 2)), d), x + 32 * b);
        add16(&a1, scale16(i8x16(load16(block + 18)), d), x + 32 * b + 16);
    }
    return finish(a0, a1);
}

// MARK: ggml k-quants (blocks of 256)

/// ggml's get_scale_min_k4: 6-bit scale and min of sub-block j (0..<8) from the 12 packed bytes q.
static inline void scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

ABL_TARGET float ABL_NAME(q4_k)(const void *row, const float *x, ptrdiff_t count) {
    const uint8_t *r = (const uint8_t *)row;
    const __m128i low = _mm_set1_epi8(0x0F);
    abl_f32x16 a0 = zero16(), a1 = zero16();
    for (ptrdiff_t b = 0; b < count / 256; b++) {
        const uint8_t *block = r + 144 * b;
        __m128 dd = half2(block);
        float d = lane0(dd), dmin = lane1(dd);
        const uint8_t *scales = block + 4;
        for (int p = 0; p < 4; p++) {
            uint8_t sc1, m1, sc2, m2;
            scale_min_k4(2 * p, scales, &sc1, &m1);
            scale_min_k4(2 * p + 1, scales, &sc2, &m2);
            float d1 = d * (float)sc1, min1 = dmin * (float)m1;
            float d2 = d * (float)sc2, min2 = dmin * (float)m2;
            const uint8_t *q = block + 16 + 32 * p;
            const float *xb = x + 256 * b + 64 * p;
            __m128i v0 = load16(q), v1 = load16(q + 16);
            add16(&a0, offset16(scale16(u8x16(_mm_and_si128(v0, low)), d1), -min1), xb);
            add16(&a1, offset16(scale16(u8x16(_mm_and_si128(v1, low)), d1), -min1), xb + 16);
            add16(&a0, offset16(scale16(u8x16(_mm_and_si128(_mm_srli_epi16(v0, 4), low)), d2), -min2), xb + 32);
            add16(&a1, offset16(scale16(u8x16(_mm_and_si128(_mm_srli_epi16(v1, 4), low)), d2), -min2), xb + 48);
        }
    }
    return finish(a0, a1);
}

/// The 6-bit values − 32 of Q6_K half (ql, qh), group k (0..<4), lanes l0..l0+15.
ABL_TARGET static inline abl_f32x16 q6_values(const uint8_t *ql, const uint8_t *qh, int k, int l0) {
    const __m128i low = _mm_set1_epi8(0x0F), three = _mm_set1_epi8(3);
    __m128i l = load16(ql + l0 + 32 * (k & 1));
    __m128i nib = k < 2 ? _mm_and_si128(l, low) : _mm_and_si128(_mm_srli_epi16(l, 4), low);
    __m128i h = _mm_and_si128(_mm_srl_epi16(load16(qh + l0), _mm_cvtsi32_si128(2 * k)), three);
    __m128i v = _mm_or_si128(nib, _mm_slli_epi16(h, 4));  // 0..63, no carry between bytes
    return offset16(u8x16(v), -32.0f);
}

ABL_TARGET float ABL_NAME(q6_k)(const void *row, const float *x, ptrdiff_t count) {
    const uint8_t *r = (const uint8_t *)row;
    abl_f32x16 a0 = zero16(), a1 = zero16();
    for (ptrdiff_t b = 0; b < count / 256; b++) {
        const uint8_t *block = r + 210 * b;
        float d = lane1(half2(block + 206));  // the last two scales, then d
        const int8_t *scales = (const int8_t *)(block + 192);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = block + 64 * h, *qh = block + 128 + 32 * h;
            const float *xh = x + 256 * b + 128 * h;
            for (int k = 0; k < 4; k++) {
                float s0 = d * (float)scales[8 * h + 2 * k], s1 = d * (float)scales[8 * h + 2 * k + 1];
                add16(&a0, scale16(q6_values(ql, qh, k, 0), s0), xh + 32 * k);
                add16(&a1, scale16(q6_values(ql, qh, k, 16), s1), xh + 32 * k + 16);
            }
        }
    }
    return finish(a0, a1);
}

