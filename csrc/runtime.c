/*
 * runtime.c -- thread count, status text and the per-thread scratch cache: the few
 * kernel-independent pieces.
 */
#include "ff_internal.h"

#include <pthread.h>
#include <stdlib.h>

/* Per-thread scratch, grown on demand and kept between calls: a fresh malloc of a few
 * hundred KB is an mmap whose page faults cost more than a small kernel call (a GEMM of
 * a 32-row batch spent a fifth of its time in them). One cache per calling thread and
 * slot, so concurrent callers never share one; a pthread key frees it when the thread
 * exits, so short-lived threads (a Python thread pool) do not leak it. */
typedef struct {
    char *mem[FF_SCRATCH_SLOTS];
    size_t size[FF_SCRATCH_SLOTS];
} ff_scratch_cache;

static pthread_key_t ff_scratch_key;
static pthread_once_t ff_scratch_once = PTHREAD_ONCE_INIT;
static int ff_scratch_key_ok;

static void ff_scratch_free(void *p) {
    ff_scratch_cache *cache = p;
    for (int i = 0; i < FF_SCRATCH_SLOTS; i++) free(cache->mem[i]);
    free(cache);
}

static void ff_scratch_key_create(void) {
    ff_scratch_key_ok = pthread_key_create(&ff_scratch_key, ff_scratch_free) == 0;
}

void *ff_thread_scratch(int slot, size_t need) {
    if (slot < 0 || slot >= FF_SCRATCH_SLOTS) return NULL;
    pthread_once(&ff_scratch_once, ff_scratch_key_create);
    if (!ff_scratch_key_ok) return NULL;
    ff_scratch_cache *cache = pthread_getspecific(ff_scratch_key);
    if (!cache) {
        cache = calloc(1, sizeof *cache);
        if (!cache) return NULL;
        if (pthread_setspecific(ff_scratch_key, cache) != 0) {
            free(cache);
            return NULL;
        }
    }
    if (need > cache->size[slot]) {
        void *mem = NULL;
        /* no realloc: the old contents are dead, and the new block must be aligned */
        if (posix_memalign(&mem, 64, need) != 0) return NULL;
        free(cache->mem[slot]);
        cache->mem[slot] = mem;
        cache->size[slot] = need;
    }
    return cache->mem[slot];
}

int ff_set_num_threads(int n) {
    FF_CHECK(n >= 1);
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
    return FF_OK;
}

int ff_get_num_threads(void) { return ff_threads(); }

const char *ff_status_string(int status) {
    switch (status) {
        case FF_OK: return "ok";
        case FF_EBADARG: return "invalid argument";
        case FF_ENOMEM: return "out of memory";
        case FF_ENONFINITE: return "non-finite value";
        case FF_ECOMM: return "a data-parallel collective failed";
        default: return "unknown status";
    }
}
