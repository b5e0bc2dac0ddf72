// The CPU backend's worker threads (see the header).
//
// A loop is published through one 64-bit ticket: its generation (high 32 bits), its item count
// (16 bits) and the next unclaimed item (low 16 bits). An item is claimed by a compare-and-swap
// of the whole ticket, and the loop's body and context are read only after a claim succeeded:
// the caller wrote them before it published the ticket, and writes the next loop's only after
// every item of this one is done, so a worker that comes late to a loop claims nothing of it.

#include "cltrain_cpu_pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

typedef void (*cltrain_cpu_pool_body_t)(void *context, size_t index);

struct cltrain_cpu_pool {
    size_t workers;
    uint64_t spin_nanoseconds;
    pthread_t *threads;
    _Atomic uint64_t ticket;
    _Atomic(cltrain_cpu_pool_body_t) body;
    _Atomic(void *) context;
    _Atomic size_t done;
    _Atomic int busy;
    _Atomic int stopping;
    _Atomic size_t sleepers;
    pthread_mutex_t lock;
    pthread_cond_t wake;
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static uint64_t now_nanoseconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static inline uint32_t generation_of(uint64_t ticket) { return (uint32_t)(ticket >> 32); }

/// Items a loop may have: its count fits the ticket's 16 bits.
#define MAX_ITEMS 0xffffu

/// Claims and runs items of the loop of `generation` until none is left (or a newer loop began).
static void work_on(cltrain_cpu_pool_t *pool, uint32_t generation) {
    uint64_t ticket = atomic_load_explicit(&pool->ticket, memory_order_acquire);
    for (;;) {
        size_t count = (size_t)((ticket >> 16) & MAX_ITEMS), next = (size_t)(ticket & MAX_ITEMS);
        if (generation_of(ticket) != generation || next >= count) return;
        if (atomic_compare_exchange_weak_explicit(&pool->ticket, &ticket, ticket + 1, memory_order_acq_rel, memory_order_acquire)) {
            cltrain_cpu_pool_body_t body = atomic_load_explicit(&pool->body, memory_order_relaxed);
            void *context = atomic_load_explicit(&pool->context, memory_order_relaxed);
            body(context, next);
            atomic_fetch_add_explicit(&pool->done, 1, memory_order_release);
            ticket = atomic_load_explicit(&pool->ticket, memory_order_acquire);
        }
    }
}

static void *worker_main(void *argument) {
    cltrain_cpu_pool_t *pool = argument;
    uint32_t seen = generation_of(atomic_load_explicit(&pool->ticket, memory_order_acquire));
    for (;;) {
        // Spin for a while: the next loop of a step usually comes within microseconds.
        uint64_t deadline = 0;
        uint32_t generation = seen;
        for (unsigned spins = 0;; spins++) {
            generation = generation_of(atomic_load_explicit(&pool->ticket, memory_order_acquire));
            if (generation != seen || atomic_load_explicit(&pool->stopping, memory_order_relaxed)) break;
            if ((spins & 63) == 63) {
                uint64_t t = now_nanoseconds();
                if (deadline == 0) deadline = t + pool->spin_nanoseconds;
                else if (t >= deadline) break;
            }
            cpu_relax();
        }
        if (generation == seen && !atomic_load_explicit(&pool->stopping, memory_order_relaxed)) {
            pthread_mutex_lock(&pool->lock);
            atomic_fetch_add(&pool->sleepers, 1);
            while (generation_of(atomic_load(&pool->ticket)) == seen && !atomic_load(&pool->stopping))
                pthread_cond_wait(&pool->wake, &pool->lock);
            atomic_fetch_sub(&pool->sleepers, 1);
            pthread_mutex_unlock(&pool->lock);
            generation = generation_of(atomic_load_explicit(&pool->ticket, memory_order_acquire));
        }
        if (atomic_load(&pool->stopping)) return NULL;
        seen = generation;
        work_on(pool, generation);
    }
}

cltrain_cpu_pool_t *cltrain_cpu_pool_create(size_t workers, unsigned spin_microseconds) {
    cltrain_cpu_pool_t *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->spin_nanoseconds = (uint64_t)spin_microseconds * 1000u;
    pool->threads = workers ? calloc(workers, sizeof(pthread_t)) : NULL;
    if (workers && !pool->threads) {
        free(pool);
        return NULL;
    }
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    for (size_t i = 0; i < workers; i++) {
        if (pthread_create(&pool->threads[i], NULL, worker_main, pool) != 0) {
            pool->workers = i;
            cltrain_cpu_pool_destroy(pool);
            return NULL;
        }
        pool->workers = i + 1;
    }
    return pool;
}

void cltrain_cpu_pool_destroy(cltrain_cpu_pool_t *pool) {
    pthread_mutex_lock(&pool->lock);
    atomic_store(&pool->stopping, 1);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (size_t i = 0; i < pool->workers; i++) pthread_join(pool->threads[i], NULL);
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->lock);
    free(pool->threads);
    free(pool);
}

bool cltrain_cpu_pool_run(cltrain_cpu_pool_t *pool, size_t count, void (*body)(void *context, size_t index), void *context) {
    if (count == 0) return true;
    if (count > MAX_ITEMS) return false;
    int idle = 0;
    if (!atomic_compare_exchange_strong(&pool->busy, &idle, 1)) return false;
    atomic_store_explicit(&pool->body, body, memory_order_relaxed);
    atomic_store_explicit(&pool->context, context, memory_order_relaxed);
    atomic_store_explicit(&pool->done, 0, memory_order_relaxed);
    uint32_t generation = generation_of(atomic_load_explicit(&pool->ticket, memory_order_relaxed)) + 1;
    // Publishes the fields above; sequentially consistent with the sleepers' count (a worker
    // counts itself a sleeper, then reads the ticket: one of the two sees the other).
    atomic_store(&pool->ticket, (uint64_t)generation << 32 | (uint64_t)count << 16);
    if (atomic_load(&pool->sleepers) > 0) {
        pthread_mutex_lock(&pool->lock);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->lock);
    }
    work_on(pool, generation);
    // Wait for the items the workers hold: spin briefly, then yield the CPU between looks.
    for (unsigned spins = 0; atomic_load_explicit(&pool->done, memory_order_acquire) < count; spins++) {
        if (spins < 4096) cpu_relax();
        else sched_yield();
    }
    atomic_store_explicit(&pool->busy, 0, memory_order_release);
    return true;
}
