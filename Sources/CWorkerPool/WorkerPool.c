#include "CWorkerPool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ABL_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define ABL_RELAX() __asm__ __volatile__("yield")
#else
#define ABL_RELAX() ((void)0)
#endif

/// Pause instructions a waiting worker spins before it sleeps (about a millisecond or two).
enum { SPIN_LIMIT = 20000 };

struct abl_pool {
    int threads;
    pthread_t *ids;
    pthread_mutex_t busy;          // held by the thread running a job
    pthread_mutex_t mutex;         // guards sleeping: generation changes under it
    pthread_cond_t wake;
    _Atomic unsigned generation;   // one more for every job (and for stop)
    _Atomic int pending;           // workers 1 ..< threads still in the current job
    _Atomic int stop;
    abl_pool_task task;
    void *context;
};

typedef struct { abl_pool *pool; int index; } abl_worker_start;

static void *worker_main(void *argument) {
    abl_worker_start start = *(abl_worker_start *)argument;
    free(argument);
    abl_pool *p = start.pool;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen) {
            if (++spins < SPIN_LIMIT) { ABL_RELAX(); continue; }
            pthread_mutex_lock(&p->mutex);
            while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen)
                pthread_cond_wait(&p->wake, &p->mutex);
            pthread_mutex_unlock(&p->mutex);
            break;
        }
        seen = g;
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) return NULL;
        p->task(p->context, start.index);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
    }
}

abl_pool *abl_pool_create(int threads) {
    if (threads < 1) threads = 1;
    abl_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->threads = threads;
    p->ids = calloc((size_t)threads, sizeof(pthread_t));
    if (!p->ids) { free(p); return NULL; }
    pthread_mutex_init(&p->busy, NULL);
    pthread_mutex_init(&p->mutex, NULL);
    pthread_cond_init(&p->wake, NULL);
    for (int i = 1; i < threads; i++) {
        abl_worker_start *s = malloc(sizeof *s);
        if (s) { s->pool = p; s->index = i; }
        if (!s || pthread_create(&p->ids[i], NULL, worker_main, s) != 0) {
            free(s);
            p->threads = i;  // stop and join the ones started
            abl_pool_destroy(p);
            return NULL;
        }
    }
    return p;
}

/// Publishes a new generation (under the mutex, so a worker between its last look and its wait cannot
/// miss it) and wakes the sleepers.
static void publish(abl_pool *p) {
    pthread_mutex_lock(&p->mutex);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mutex);
}

int abl_pool_run(abl_pool *p, abl_pool_task task, void *context) {
    if (pthread_mutex_trylock(&p->busy) != 0) return 0;
    if (p->threads == 1) {
        task(context, 0);
        pthread_mutex_unlock(&p->busy);
        return 1;
    }
    p->task = task;
    p->context = context;
    atomic_store_explicit(&p->pending, p->threads - 1, memory_order_relaxed);
    publish(p);
    task(context, 0);
    int spins = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) != 0) {
        if (++spins < SPIN_LIMIT) ABL_RELAX();
        else sched_yield();
    }
    pthread_mutex_unlock(&p->busy);
    return 1;
}

void abl_pool_destroy(abl_pool *p) {
    if (!p) return;
    atomic_store_explicit(&p->stop, 1, memory_order_release);
    publish(p);
    for (int i = 1; i < p->threads; i++) pthread_join(p->ids[i], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mutex);
    pthread_mutex_destroy(&p->busy);
    free(p->ids);
    free(p);
}
