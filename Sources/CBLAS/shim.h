#include <cblas.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <strings.h>

/// OpenBLAS builds for many CPUs at once (DYNAMIC_ARCH, as Debian's) choose their kernels by CPU model
/// number, and fall back to a generic SSE3 kernel ("Prescott") for a model they do not know: Debian
/// bookworm's 0.3.21 on a 2023 Xeon (family 6, model 207) does, and its sgemm then runs 2-4x slower than
/// the AVX-512 kernel it ships. This picks the kernel by what the CPU can do instead: when OpenBLAS chose
/// one of its pre-AVX2 kernels on a CPU with AVX-512 (F, CD, BW, DQ, VL) or AVX2 + FMA, it re-runs
/// OpenBLAS's own kernel selection with OPENBLAS_CORETYPE set to SkylakeX or Haswell. Nothing is done when
/// the user set OPENBLAS_CORETYPE, on another architecture, or when the library has no dynamic selection
/// (its gotoblas_dynamic_init/quit are looked up, not linked). Must run before any other BLAS call.
/// Returns the core type it switched to, or NULL.
static inline const char *abl_openblas_choose_kernels(void) {
#if defined(__x86_64__)
    if (getenv("OPENBLAS_CORETYPE")) return NULL;
    void (*quit)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit");
    void (*init)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init");
    if (!quit || !init) return NULL;
    static const char *const generic[] = {
        "Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Sandybridge", "Katmai",
        "Coppermine", "Northwood", "Banias", "Unknown", NULL };
    const char *current = openblas_get_corename();
    int isGeneric = 0;
    for (int i = 0; current && generic[i]; i++) isGeneric |= strcasecmp(current, generic[i]) == 0;
    if (!isGeneric) return NULL;
    __builtin_cpu_init();
    const char *better = NULL;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) better = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) better = "Haswell";
    if (!better) return NULL;
    setenv("OPENBLAS_CORETYPE", better, 0);
    quit();
    init();
    unsetenv("OPENBLAS_CORETYPE");
    return better;
#else
    return NULL;
#endif
}
