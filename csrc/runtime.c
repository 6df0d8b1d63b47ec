/*
 * runtime.c -- thread count and status text: the few kernel-independent entry points.
 */
#include "ff_internal.h"

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
        default: return "unknown status";
    }
}
