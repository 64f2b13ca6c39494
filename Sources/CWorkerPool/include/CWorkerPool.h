// A fixed set of worker threads that run one job at a time, for the many short parallel loops of a
// decoding step (a few hundred per token, tens of microseconds each). Between jobs the workers spin
// for a while before they sleep, so a job that follows soon after the last one starts without a
// thread wake-up (which costs more than the job itself on a busy or virtualized machine). TensorKit's
// `WorkerPool` wraps it.
#ifndef ABLITERATE_CWORKERPOOL_H
#define ABLITERATE_CWORKERPOOL_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct abl_pool abl_pool;
/// Runs worker `worker`'s share of a job (0 ..< the pool's thread count).
typedef void (*abl_pool_task)(void *context, int worker);

/// A pool of `threads` workers in all: the caller of abl_pool_run is worker 0, `threads` − 1 threads
/// are started. NULL when a thread cannot be started.
abl_pool *abl_pool_create(int threads);
/// Runs task(context, w) for every w in 0 ..< threads at once, w = 0 on the calling thread, and
/// returns when all have returned. Returns 0 without running anything when the pool is running
/// another job (a nested call, or a call from another thread); the caller then runs it another way.
int abl_pool_run(abl_pool *pool, abl_pool_task task, void *context);
/// Stops and joins the threads, frees the pool. No job may be running.
void abl_pool_destroy(abl_pool *pool);

#ifdef __cplusplus
}
#endif

#endif
