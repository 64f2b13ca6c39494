/* Reads little-endian f32 values on stdin and writes them on stdout encoded by ggml's reference
 * quantizer for the type named in argv[1] (q4_0 q4_1 q5_0 q5_1 q8_0 q4_K q5_K q6_K).
 *
 * Built and run by Scripts/make-gguf-quantize-fixtures.py against a ggml checkout's ggml-quants.c,
 * compiled with -ffp-contract=off (no fused multiply-add), the reference the Swift encoders follow.
 * Nothing here is shipped or needed by the tool or its tests. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*quantize_fn)(const float *, void *, int64_t);
void quantize_row_q4_0_ref(const float *, void *, int64_t);
void quantize_row_q4_1_ref(const float *, void *, int64_t);
void quantize_row_q5_0_ref(const float *, void *, int64_t);
void quantize_row_q5_1_ref(const float *, void *, int64_t);
void quantize_row_q8_0_ref(const float *, void *, int64_t);
void quantize_row_q4_K_ref(const float *, void *, int64_t);
void quantize_row_q5_K_ref(const float *, void *, int64_t);
void quantize_row_q6_K_ref(const float *, void *, int64_t);

/* ggml-quants.c references these from ggml.c; the reference quantizers never call them. */
void ggml_abort(const char *file, int line, const char *fmt, ...) { fprintf(stderr, "abort %s:%d\n", file, line); abort(); }
size_t ggml_row_size(int type, int64_t ne) { (void)type; (void)ne; abort(); }
const char *ggml_type_name(int type) { (void)type; return "?"; }
size_t ggml_type_size(int type) { (void)type; abort(); }

int main(int argc, char **argv) {
    static const struct { const char *name; quantize_fn fn; int block; int bytes; } types[] = {
        {"q4_0", quantize_row_q4_0_ref, 32, 18}, {"q4_1", quantize_row_q4_1_ref, 32, 20},
        {"q5_0", quantize_row_q5_0_ref, 32, 22}, {"q5_1", quantize_row_q5_1_ref, 32, 24},
        {"q8_0", quantize_row_q8_0_ref, 32, 34}, {"q4_K", quantize_row_q4_K_ref, 256, 144},
        {"q5_K", quantize_row_q5_K_ref, 256, 176}, {"q6_K", quantize_row_q6_K_ref, 256, 210},
    };
    if (argc != 2) { fprintf(stderr, "usage: %s TYPE < f32 > blocks\n", argv[0]); return 2; }
    int t = -1;
    for (int i = 0; i < (int)(sizeof types / sizeof types[0]); i++) if (!strcmp(argv[1], types[i].name)) t = i;
    if (t < 0) { fprintf(stderr, "unknown type %s\n", argv[1]); return 2; }
    size_t cap = 1 << 20, n = 0;
    float *x = malloc(cap * sizeof(float));
    size_t got;
    while ((got = fread(x + n, sizeof(float), cap - n, stdin)) > 0) {
        n += got;
        if (n == cap) { cap *= 2; x = realloc(x, cap * sizeof(float)); }
    }
    if (n % types[t].block) { fprintf(stderr, "%zu values is not a multiple of %d\n", n, types[t].block); return 1; }
    size_t out_bytes = n / types[t].block * types[t].bytes;
    void *y = calloc(out_bytes ? out_bytes : 1, 1);
    types[t].fn(x, y, (int64_t)n);
    fwrite(y, 1, out_bytes, stdout);
    return 0;
}
