#ifndef CLTRAIN_CPU_POOL_H
#define CLTRAIN_CPU_POOL_H

// The CPU backend's worker threads. A loop of `count` independent items is handed to the
// workers and the calling thread, each claiming the next item until none is left; the call
// returns when every item is done.
//
// Why not libdispatch's concurrentPerform: its workers go to sleep as soon as a loop ends, and
// waking a sleeping virtual CPU costs tens of microseconds (measured: 47 us per loop on average
// over DenseNet-BC-100's 523 loops a step on a 2-core KVM guest; the waker's own item was often
// half done before the other started, and the loop waited for it at the end). These workers
// spin for a while after each loop before they sleep, so the next loop of a training step finds
// them awake.

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma clang assume_nonnull begin

typedef struct cltrain_cpu_pool cltrain_cpu_pool_t;

/// A pool of `workers` threads (0: every loop runs on the caller) that spin for about
/// `spin_microseconds` after a loop before they sleep. NULL when a thread cannot be started.
cltrain_cpu_pool_t *_Nullable cltrain_cpu_pool_create(size_t workers, unsigned spin_microseconds);

/// Stops and joins the workers (after any loop in progress) and frees the pool.
void cltrain_cpu_pool_destroy(cltrain_cpu_pool_t *pool);

/// Runs `body(context, i)` for every i in 0..<count, on the calling thread and the workers,
/// and returns true when all are done. Returns false without running anything when the pool
/// is already running a loop (a loop started from inside another, or from a second thread), or
/// for more than 65535 items: the caller runs that loop some other way.
bool cltrain_cpu_pool_run(cltrain_cpu_pool_t *pool, size_t count, void (*body)(void *_Nullable context, size_t index),
                          void *_Nullable context);

#pragma clang assume_nonnull end

#ifdef __cplusplus
}
#endif

#endif
