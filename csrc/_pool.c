/* pynn's worker pool (see _pool.h for the contract).
 *
 * State, all under one mutex: the workers started, the job being run (its
 * function, context, the caller's floating-point state and the number of
 * workers still inside it), and per worker a "go" flag with its own
 * condition variable, so that a job of k slots wakes exactly k − 1 workers.
 * A worker clears its flag when it takes the job; the caller, once its own
 * share is done, clears the flags of workers that never woke, so a worker
 * whose core is taken by another process costs the job nothing.  The
 * flags and the count of workers inside a job are also read without the
 * lock, by atomic loads, while a thread polls (``poll_for``); every
 * decision is re-checked under the lock.
 */
#include "_pool.h"

#if (defined(__unix__) || defined(__APPLE__)) && \
    (defined(__GNUC__) || defined(__clang__))
#define PYNN_HAVE_PTHREADS 1
#endif

#ifndef PYNN_HAVE_PTHREADS

int pynn_pool_run(int n, pynn_job_fn fn, void *ctx)
{
    (void)n;
    fn(ctx, 0);
    return 1;
}

int pynn_pool_workers(void) { return 0; }

#else

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <sched.h>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
typedef unsigned int fpstate_t;
static inline fpstate_t fp_get(void) { return _mm_getcsr(); }
static inline void fp_set(fpstate_t s) { _mm_setcsr(s); }
#elif defined(__aarch64__)
typedef uint64_t fpstate_t;
static inline fpstate_t fp_get(void)
{
    uint64_t s;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(s));
    return s;
}
static inline void fp_set(fpstate_t s)
{
    __asm__ __volatile__("msr fpcr, %0" : : "r"(s));
}
#else
#include <fenv.h>
typedef fenv_t fpstate_t;
static inline fpstate_t fp_get(void) { fenv_t e; fegetenv(&e); return e; }
static inline void fp_set(fpstate_t s) { fesetenv(&s); }
#endif

#if defined(__x86_64__) || defined(__i386__)
static inline void cpu_relax(void) { _mm_pause(); }
#elif defined(__aarch64__)
static inline void cpu_relax(void) { __asm__ __volatile__("yield"); }
#else
static inline void cpu_relax(void) { }
#endif

/* How long a worker polls for the next job, and the caller for the last
 * worker, before sleeping on a condition variable (nanoseconds; the
 * environment variable PYNN_SPIN_US sets it in microseconds, 0: never
 * poll).  Jobs of a training step follow each other within microseconds,
 * while a sleeping thread takes 15–20 µs to wake (a 4-chunk job of 80 µs
 * on 2 threads: 57 µs when workers sleep, 40 µs when they poll).  Between
 * polls the thread calls sched_yield, so on a core that another process
 * wants the poll gives way at once (the same job
 * with a competing process on one of two cores: 82–86 µs, as when workers
 * sleep; polling without the yield: 94–100 µs). */
static long spin_ns = 50000;

static long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)t.tv_sec * 1000000000L + t.tv_nsec;
}

/* Poll *v until it equals want or spin_ns have passed; returns 1 if it
 * did.  Reads without the lock (atomic loads); the caller re-checks under
 * it. */
static int poll_for(const int *v, int want)
{
    long end;
    int i;
    if (spin_ns <= 0)
        return 0;
    end = now_ns() + spin_ns;
    for (;;) {
        for (i = 0; i < 64; i++) {
            if (__atomic_load_n(v, __ATOMIC_ACQUIRE) == want)
                return 1;
            cpu_relax();
        }
        if (now_ns() >= end)
            return 0;
        sched_yield();
    }
}

struct worker {
    pthread_cond_t wake;        /* signalled when go is set */
    int go;                     /* 1: run the current job, then clear */
    int slot;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t finished = PTHREAD_COND_INITIALIZER;
static struct worker workers[PYNN_POOL_MAX];    /* slot i uses workers[i] */
static int n_started = 0;       /* workers[1 … n_started] exist */
static int busy = 0;            /* a job is running */
static int remaining = 0;       /* workers still inside the job */
static pynn_job_fn job_fn;
static void *job_ctx;
static fpstate_t job_fp;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void *worker_main(void *arg)
{
    struct worker *w = (struct worker *)arg;
    pynn_job_fn fn;
    void *ctx;
    fpstate_t fp, own = fp_get();
    pthread_mutex_lock(&lock);
    for (;;) {
        if (!w->go) {
            pthread_mutex_unlock(&lock);
            poll_for(&w->go, 1);
            pthread_mutex_lock(&lock);
        }
        while (!w->go)
            pthread_cond_wait(&w->wake, &lock);
        __atomic_store_n(&w->go, 0, __ATOMIC_RELAXED);
        fn = job_fn;
        ctx = job_ctx;
        fp = job_fp;
        pthread_mutex_unlock(&lock);
        fp_set(fp);
        fn(ctx, w->slot);
        fp_set(own);
        pthread_mutex_lock(&lock);
        if (__atomic_sub_fetch(&remaining, 1, __ATOMIC_RELEASE) == 0)
            pthread_cond_signal(&finished);
    }
    return NULL;
}

/* Fork handlers: hold the lock across fork() so the child sees a
 * consistent state, then give the child an empty pool. */
static void before_fork(void) { pthread_mutex_lock(&lock); }
static void parent_after_fork(void) { pthread_mutex_unlock(&lock); }
static void child_after_fork(void)
{
    int i;
    pthread_mutex_init(&lock, NULL);
    pthread_cond_init(&finished, NULL);
    for (i = 0; i < PYNN_POOL_MAX; i++) {
        pthread_cond_init(&workers[i].wake, NULL);
        workers[i].go = 0;
    }
    n_started = busy = remaining = 0;
}

static void init_once(void)
{
    int i;
    const char *env = getenv("PYNN_SPIN_US");
    if (env != NULL && *env != '\0')
        spin_ns = 1000L * atol(env);
    for (i = 0; i < PYNN_POOL_MAX; i++) {
        pthread_cond_init(&workers[i].wake, NULL);
        workers[i].go = 0;
        workers[i].slot = i;
    }
    pthread_atfork(before_fork, parent_after_fork, child_after_fork);
}

/* Under the lock: start workers up to slot n − 1; returns how many slots
 * can run (1 + the workers that exist). */
static int start_workers(int n)
{
    sigset_t all, old;
    pthread_attr_t attr;
    pthread_t t;
    if (n_started >= n - 1)
        return n;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);     /* workers inherit the mask */
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    while (n_started < n - 1) {
        if (pthread_create(&t, &attr, worker_main,
                           &workers[n_started + 1]) != 0)
            break;
        n_started++;
    }
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return n_started + 1 < n ? n_started + 1 : n;
}

int pynn_pool_run(int n, pynn_job_fn fn, void *ctx)
{
    int i;
    if (n > PYNN_POOL_MAX)
        n = PYNN_POOL_MAX;
    if (n <= 1) {
        fn(ctx, 0);
        return 1;
    }
    pthread_once(&once, init_once);
    pthread_mutex_lock(&lock);
    if (busy) {                         /* another job runs: do it alone */
        pthread_mutex_unlock(&lock);
        fn(ctx, 0);
        return 1;
    }
    n = start_workers(n);
    busy = 1;
    job_fn = fn;
    job_ctx = ctx;
    job_fp = fp_get();
    remaining = n - 1;
    for (i = 1; i < n; i++) {
        __atomic_store_n(&workers[i].go, 1, __ATOMIC_RELEASE);
        pthread_cond_signal(&workers[i].wake);
    }
    pthread_mutex_unlock(&lock);
    fn(ctx, 0);
    pthread_mutex_lock(&lock);
    /* The caller found nothing left to claim.  A worker that has not woken
     * yet (its core is busy) has no part in the job: call it off rather
     * than wait for the scheduler to run it.  Only workers already inside
     * fn (on a chunk) are waited for. */
    for (i = 1; i < n; i++) {
        if (workers[i].go) {
            __atomic_store_n(&workers[i].go, 0, __ATOMIC_RELAXED);
            remaining--;
        }
    }
    if (remaining > 0) {
        pthread_mutex_unlock(&lock);
        poll_for(&remaining, 0);
        pthread_mutex_lock(&lock);
    }
    while (remaining > 0)
        pthread_cond_wait(&finished, &lock);
    busy = 0;
    pthread_mutex_unlock(&lock);
    return n;
}

int pynn_pool_workers(void)
{
    int n;
    pthread_mutex_lock(&lock);
    n = n_started;
    pthread_mutex_unlock(&lock);
    return n;
}

#endif
