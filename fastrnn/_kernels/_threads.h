/* fastrnn's own thread pool: the row chunks of one call run on it.
 *
 * frnn_parallel(fn, ctx, parts) runs fn(ctx, 0) .. fn(ctx, parts - 1), each
 * part on some thread, and returns when all are done. The caller takes parts
 * too; idle threads claim the next unclaimed part, so which thread runs a
 * part never matters to its result (the parts are fixed by the caller).
 *
 * Why not OpenMP: its threads spin-wait between regions (libgomp: ~300,000
 * spins by default) and each takes a fixed share of a region. On a machine
 * where something else runs, a spinning thread holds the core that its
 * partner or the other program needs, and a region waits for its slowest
 * thread: default threads trained much slower than one thread beside one
 * busy process (bench/THRESHOLDS.md). Its
 * wait policy cannot be changed for fastrnn alone (it is read once, by a
 * runtime that PyTorch and others share). Here a waiting thread spins for at
 * most 1 ms, or 20 us once it has been preempted (FRNN_SPIN_*), then sleeps
 * on a condition variable; a part nobody has
 * started is taken by whichever thread is free, the caller included. And no
 * OpenMP runtime is needed at all (macOS compilers ship none).
 *
 * Threads: frnn_max_threads() is the calling thread's limit when one is set
 * (frnn_set_thread_limit; fastrnn's n_threads), else OMP_NUM_THREADS when set
 * (as joblib and Dask set it for their workers) up to the CPUs this process
 * may run on, else those CPUs; threadpoolctl reaches the limit through the two exported
 * functions at the end. One call at a time uses the pool: a call that finds it busy
 * (another thread's, or a part calling in again) runs its parts itself. The
 * pool is started on first use and restarted in the child after a fork. */
#ifndef FASTRNN_THREADS_H
#define FASTRNN_THREADS_H

#include <stdint.h>
#include <stdlib.h>

typedef void (*frnn_task_fn)(void *ctx, int part);

/* How long a waiting thread spins before it sleeps. Long (1 ms, as OpenMP
 * spins) while its thread has not been preempted since its last wait: calls
 * in a loop then find it awake (a sleeping thread can wake too late for a
 * short call, and the caller runs every part). Short (20 us) once it has
 * been: something else wants the CPUs, and spinning takes them from it and
 * from the caller. Where preemptions cannot be counted, short. (The
 * measurements: bench/THRESHOLDS.md.) */
#define FRNN_SPIN_LONG_NS 1000000
#define FRNN_SPIN_SHORT_NS 20000
#define FRNN_MAX_POOL 256

#if defined(_WIN32)
#include <windows.h>
#include <process.h>
typedef SRWLOCK frnn_mutex;
typedef CONDITION_VARIABLE frnn_cond;
#define FRNN_TLS __declspec(thread)
static void frnn_mutex_init(frnn_mutex *m) { InitializeSRWLock(m); }
static void frnn_lock(frnn_mutex *m) { AcquireSRWLockExclusive(m); }
static void frnn_unlock(frnn_mutex *m) { ReleaseSRWLockExclusive(m); }
static void frnn_cond_init(frnn_cond *c) { InitializeConditionVariable(c); }
static void frnn_cond_wait(frnn_cond *c, frnn_mutex *m) { SleepConditionVariableSRW(c, m, INFINITE, 0); }
static void frnn_cond_broadcast(frnn_cond *c) { WakeAllConditionVariable(c); }
static void frnn_cond_signal(frnn_cond *c) { WakeConditionVariable(c); }
static int64_t frnn_now_ns(void)
{
    LARGE_INTEGER t, f;
    QueryPerformanceCounter(&t);
    QueryPerformanceFrequency(&f);
    return (int64_t)((double)t.QuadPart * 1e9 / (double)f.QuadPart);
}
static int64_t frnn_load(volatile int64_t *p) { return InterlockedCompareExchange64(p, 0, 0); }
static void frnn_store(volatile int64_t *p, int64_t v) { InterlockedExchange64(p, v); }
static int frnn_cas(volatile int64_t *p, int64_t expected, int64_t desired)
{
    return InterlockedCompareExchange64(p, desired, expected) == expected;
}
static int64_t frnn_add(volatile int64_t *p, int64_t v) { return InterlockedExchangeAdd64(p, v) + v; }
static void frnn_pause(void) { YieldProcessor(); }
static void frnn_yield(void) { SwitchToThread(); }
static int frnn_cpu_count(void)
{
    DWORD_PTR process, system;
    int n = 0;
    if (GetProcessAffinityMask(GetCurrentProcess(), &process, &system))
        for (; process; process &= process - 1) n++;
    return n > 0 ? n : 1;
}
static unsigned __stdcall frnn_worker_entry(void *arg);
static int frnn_start_thread(void *arg)
{
    uintptr_t h = _beginthreadex(NULL, 0, frnn_worker_entry, arg, 0, NULL);
    if (!h)
        return -1;
    CloseHandle((HANDLE)h);
    return 0;
}
#else
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
typedef pthread_mutex_t frnn_mutex;
typedef pthread_cond_t frnn_cond;
#define FRNN_TLS __thread
static void frnn_mutex_init(frnn_mutex *m) { pthread_mutex_init(m, NULL); }
static void frnn_lock(frnn_mutex *m) { pthread_mutex_lock(m); }
static void frnn_unlock(frnn_mutex *m) { pthread_mutex_unlock(m); }
static void frnn_cond_init(frnn_cond *c) { pthread_cond_init(c, NULL); }
static void frnn_cond_wait(frnn_cond *c, frnn_mutex *m) { pthread_cond_wait(c, m); }
static void frnn_cond_broadcast(frnn_cond *c) { pthread_cond_broadcast(c); }
static void frnn_cond_signal(frnn_cond *c) { pthread_cond_signal(c); }
static int64_t frnn_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}
static int64_t frnn_load(volatile int64_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static void frnn_store(volatile int64_t *p, int64_t v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
static int frnn_cas(volatile int64_t *p, int64_t expected, int64_t desired)
{
    return __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_SEQ_CST,
                                       __ATOMIC_SEQ_CST);
}
static int64_t frnn_add(volatile int64_t *p, int64_t v)
{
    return __atomic_add_fetch(p, v, __ATOMIC_SEQ_CST);
}
static void frnn_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
static void frnn_yield(void) { sched_yield(); }
static int frnn_cpu_count(void)
{
#if defined(__linux__) && defined(CPU_COUNT)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
static void *frnn_worker_entry(void *arg);
static int frnn_start_thread(void *arg)
{
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &attr, frnn_worker_entry, arg);
    pthread_attr_destroy(&attr);
    return rc;
}
#endif

/* Whether this thread was preempted (an involuntary context switch) since
 * its previous call: how long to spin (FRNN_SPIN_*). */
#if defined(__linux__) && defined(RUSAGE_THREAD)
static int frnn_preempted(void)
{
    static FRNN_TLS long last = -1;
    struct rusage r;
    if (getrusage(RUSAGE_THREAD, &r) != 0)
        return 1;
    int hit = last < 0 || r.ru_nivcsw != last;
    last = r.ru_nivcsw;
    return hit;
}
#else
static int frnn_preempted(void) { return 1; }
#endif

static int64_t frnn_spin_ns(void) { return frnn_preempted() ? FRNN_SPIN_SHORT_NS : FRNN_SPIN_LONG_NS; }

/* The job word: generation (32 bits) | parts (16) | next part to claim (16).
 * A part is claimed by a compare-and-swap of the whole word, so a claim can
 * only succeed for the job that is published, and a claimed part keeps that
 * job (its fn and ctx) alive: the caller returns only when every part is done. */
#define FRNN_JOB(gen, parts, next)                                                                 \
    ((int64_t)(((uint64_t)(uint32_t)(gen) << 32) | ((uint64_t)(parts) << 16) | (uint64_t)(next)))
#define FRNN_GEN(w) ((uint32_t)((uint64_t)(w) >> 32))
#define FRNN_PARTS(w) ((int)(((w) >> 16) & 0xFFFF))
#define FRNN_NEXT(w) ((int)((w)&0xFFFF))

typedef struct {
    frnn_mutex lock;
    frnn_cond wake; /* workers sleep here between jobs */
    frnn_cond done; /* the caller sleeps here until the last part ends */
    volatile int64_t job;
    volatile int64_t remaining; /* parts of the published job not finished */
    volatile int64_t busy;      /* a caller owns the pool */
    frnn_task_fn fn;
    void *ctx;
    int workers;
} frnn_pool;

static frnn_pool *frnn_the_pool = NULL;
static volatile int64_t frnn_pool_guard = 0; /* serialises starting the pool */
static FRNN_TLS int frnn_thread_limit = 0;   /* 0: none set on this thread */

/* Claim and run parts of the published job `w` until none is left; 1 if any ran. */
static int frnn_run_parts(frnn_pool *p, int64_t w)
{
    int ran = 0;
    for (;;) {
        if (FRNN_NEXT(w) >= FRNN_PARTS(w))
            return ran;
        if (!frnn_cas(&p->job, w, w + 1)) {
            int64_t now = frnn_load(&p->job);
            if (FRNN_GEN(now) != FRNN_GEN(w))
                return ran; /* a newer job: this one is finished */
            w = now;
            continue;
        }
        p->fn(p->ctx, FRNN_NEXT(w));
        ran = 1;
        if (frnn_add(&p->remaining, -1) == 0) {
            frnn_lock(&p->lock);
            frnn_cond_broadcast(&p->done);
            frnn_unlock(&p->lock);
        }
        w = frnn_load(&p->job);
    }
}

#if defined(_WIN32)
static unsigned __stdcall frnn_worker_entry(void *arg)
#else
static void *frnn_worker_entry(void *arg)
#endif
{
    frnn_pool *p = (frnn_pool *)arg;
    uint32_t seen = FRNN_GEN(frnn_load(&p->job));
    for (;;) {
        int64_t w = frnn_load(&p->job);
        if (FRNN_GEN(w) == seen) {
            /* Spin for the next job a while (frnn_spin_ns), then sleep. */
            int64_t until = frnn_now_ns() + frnn_spin_ns();
            while (FRNN_GEN(w = frnn_load(&p->job)) == seen && frnn_now_ns() < until)
                for (int i = 0; i < 32; i++) frnn_pause();
            if (FRNN_GEN(w) == seen) {
                frnn_lock(&p->lock);
                while (FRNN_GEN(w = frnn_load(&p->job)) == seen) frnn_cond_wait(&p->wake, &p->lock);
                frnn_unlock(&p->lock);
            }
        }
        seen = FRNN_GEN(w);
        frnn_run_parts(p, w);
    }
#if defined(_WIN32)
    return 0;
#else
    return NULL;
#endif
}

#if !defined(_WIN32)
/* In a forked child only the forking thread exists: forget the parent's pool
 * (its memory may hold a lock taken by a thread that is gone) and start anew. */
static void frnn_after_fork_child(void)
{
    frnn_the_pool = NULL;
    frnn_pool_guard = 0;
}
#endif

/* The pool with at least `want` workers (fewer if threads cannot be started). */
static frnn_pool *frnn_pool_get(int want)
{
    while (!frnn_cas(&frnn_pool_guard, 0, 1)) frnn_pause();
    frnn_pool *p = frnn_the_pool;
    if (p == NULL) {
        p = (frnn_pool *)calloc(1, sizeof(frnn_pool));
        if (p != NULL) {
            frnn_mutex_init(&p->lock);
            frnn_cond_init(&p->wake);
            frnn_cond_init(&p->done);
#if !defined(_WIN32)
            static int registered = 0;
            if (!registered && pthread_atfork(NULL, NULL, frnn_after_fork_child) == 0)
                registered = 1;
#endif
            frnn_the_pool = p;
        }
    }
    if (want > FRNN_MAX_POOL)
        want = FRNN_MAX_POOL;
    while (p != NULL && p->workers < want && frnn_start_thread(p) == 0) p->workers++;
    frnn_store(&frnn_pool_guard, 0);
    return p;
}

static int frnn_default_threads(void)
{
    const char *env = getenv("OMP_NUM_THREADS");
    const int cpus = frnn_cpu_count();
    if (env != NULL) {
        int n = atoi(env); /* "4" or "4,2" (nested levels): the first */
        if (n > 0)
            return n < cpus ? n : cpus; /* more threads than CPUs only wait on each other */
    }
    return cpus;
}

/* Threads a call of this thread may use. */
static int frnn_max_threads(void)
{
    if (frnn_thread_limit > 0)
        return frnn_thread_limit;
    static int fallback = 0;
    if (fallback == 0)
        fallback = frnn_default_threads();
    return fallback;
}

/* Limit this thread's calls to n threads (0: back to the default). */
static void frnn_set_thread_limit(int n) { frnn_thread_limit = n > 0 ? n : 0; }

/* The same two, exported under names threadpoolctl looks up in this library
 * (fastrnn._kernels registers a controller for them), so threadpool_limits()
 * limits fastrnn's threads as it limits BLAS's and OpenMP's. */
#if defined(_WIN32)
#define FRNN_EXPORT __declspec(dllexport)
#else
#define FRNN_EXPORT __attribute__((visibility("default")))
#endif
FRNN_EXPORT int fastrnn_get_num_threads(void) { return frnn_max_threads(); }
FRNN_EXPORT void fastrnn_set_num_threads(int n) { frnn_set_thread_limit(n); }

/* Run fn(ctx, 0..parts-1) over the pool (see the top of this file). */
static void frnn_parallel(frnn_task_fn fn, void *ctx, int parts)
{
    int threads = frnn_max_threads();
    if (threads > parts)
        threads = parts;
    frnn_pool *p = parts > 1 && threads > 1 && parts <= 0xFFFF ? frnn_pool_get(threads - 1) : NULL;
    if (p == NULL || p->workers == 0 || !frnn_cas(&p->busy, 0, 1)) {
        for (int i = 0; i < parts; i++) fn(ctx, i); /* alone, or the pool is busy */
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    frnn_store(&p->remaining, parts);
    int64_t w = FRNN_JOB(FRNN_GEN(frnn_load(&p->job)) + 1, parts, 0);
    frnn_lock(&p->lock); /* publish under the lock: a worker going to sleep sees it */
    frnn_store(&p->job, w);
    for (int i = 1; i < threads; i++) frnn_cond_signal(&p->wake); /* as many as can help */
    frnn_unlock(&p->lock);
    frnn_run_parts(p, w);
    if (frnn_load(&p->remaining) > 0) {
        int64_t until = frnn_now_ns() + frnn_spin_ns();
        while (frnn_load(&p->remaining) > 0 && frnn_now_ns() < until)
            for (int i = 0; i < 32; i++) frnn_pause();
        frnn_lock(&p->lock);
        while (frnn_load(&p->remaining) > 0) frnn_cond_wait(&p->done, &p->lock);
        frnn_unlock(&p->lock);
    }
    frnn_store(&p->busy, 0);
}
#endif
