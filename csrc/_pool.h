/* pynn's own worker threads: a persistent pool that runs one job at a time.
 *
 * pynn_pool_run(n, fn, ctx) calls fn(ctx, slot) for slot = 0 … n−1 at once,
 * slot 0 on the calling thread and the others on pool workers, and returns
 * when every call has returned — except that a worker which has not woken
 * by the time fn(ctx, 0) returns is called off (its core is busy: waiting
 * for the scheduler would cost more than its share).  So a job must be
 * complete once fn(ctx, 0) has returned and the started calls have.  Workers are started on first need and kept.
 * Between jobs a worker polls for the next one for a bounded time (50 µs,
 * PYNN_SPIN_US in the environment; 0: never), yielding its core to any
 * other runnable thread between polls, then sleeps on a condition
 * variable; the caller waits for the last workers the same way.  Waking a
 * sleeping thread costs 15–20 µs, as much as a small chunk; the yield
 * keeps the poll from taking a core that another process wants.  A job splits its work
 * itself (pynn claims chunks with pynn_claim, so a slot on a busy core
 * simply takes fewer).
 *
 * One job at a time: a caller that finds the pool busy (another thread's
 * job, or a job started from inside a job) runs fn(ctx, 0) alone, which
 * pynn's jobs allow because their results never depend on the number of
 * slots.  Each worker runs the job under the caller's floating-point
 * control state (x86 MXCSR / AArch64 FPCR: rounding, flush-to-zero,
 * denormals-are-zero) and puts its own back afterwards.  Workers block all
 * signals, so Ctrl-C reaches the interpreter's threads.  After fork() the
 * child starts with an empty pool (its workers did not survive the fork).
 *
 * Without POSIX threads every job runs on the caller alone.
 */
#ifndef PYNN_POOL_H
#define PYNN_POOL_H

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*pynn_job_fn)(void *ctx, int slot);

/* The most slots a job may have (the caller plus PYNN_POOL_MAX − 1 workers). */
#define PYNN_POOL_MAX 256

/* Run fn(ctx, slot) on min(n, PYNN_POOL_MAX) slots (fewer if threads cannot
 * be started or the pool is busy); returns the number of slots used, ≥ 1. */
int pynn_pool_run(int n, pynn_job_fn fn, void *ctx);

/* Worker threads started so far (for tests). */
int pynn_pool_workers(void);

/* Atomically c ← c + 1, returning the old value: the next chunk to take. */
static inline long pynn_claim(long *counter)
{
#if defined(__GNUC__) || defined(__clang__)
    return __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
#else
    return (*counter)++;            /* no atomics: jobs run on one slot */
#endif
}

#ifdef __cplusplus
}
#endif
#endif
