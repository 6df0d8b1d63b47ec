/*
 * stream.c -- diagnostics: a STREAM-style triad used by benchmarks/bench_bandwidth.py
 * to measure the memory bandwidth the streaming kernels are compared against. Kept in
 * the library (not a test helper) so it is compiled with the kernels' flags and
 * dispatch, and so the benchmark measures what the kernels can actually get.
 */
#include "ff_internal.h"

#define FF_BODY "stream.inc"
#include "ff_instantiate.h"
