/* data.c -- STUB scaffold: to be replaced by the real kernels. */
#include "ff_internal.h"

int ff_gather_rows_f32(float *out , const float *x , const int64_t *idx , int64_t b, int64_t d, int64_t n) { (void)out; (void)x; (void)idx; (void)b; (void)d; (void)n; return FF_EBADARG; }
int ff_gather_rows_f64(double *out , const double *x , const int64_t *idx , int64_t b, int64_t d, int64_t n) { (void)out; (void)x; (void)idx; (void)b; (void)d; (void)n; return FF_EBADARG; }
int ff_gather_i64(int64_t *out , const int64_t *x , const int64_t *idx , int64_t b, int64_t n) { (void)out; (void)x; (void)idx; (void)b; (void)n; return FF_EBADARG; }
int ff_shuffle_i64(int64_t *perm , int64_t n, uint64_t seed, uint64_t stream) { (void)perm; (void)n; (void)seed; (void)stream; return FF_EBADARG; }
int ff_init_f32(float *w , int64_t n, int64_t fan_in, int64_t fan_out, int scheme, float gain, uint64_t seed, uint64_t offset) { (void)w; (void)n; (void)fan_in; (void)fan_out; (void)scheme; (void)gain; (void)seed; (void)offset; return FF_EBADARG; }
int ff_init_f64(double *w , int64_t n, int64_t fan_in, int64_t fan_out, int scheme, double gain, uint64_t seed, uint64_t offset) { (void)w; (void)n; (void)fan_in; (void)fan_out; (void)scheme; (void)gain; (void)seed; (void)offset; return FF_EBADARG; }
int ff_philox_u32(uint32_t *out , int64_t n, uint64_t seed, uint64_t offset) { (void)out; (void)n; (void)seed; (void)offset; return FF_EBADARG; }
int ff_count_nonfinite_f32(int64_t *count, const float *x , int64_t n) { (void)count; (void)x; (void)n; return FF_EBADARG; }
int ff_count_nonfinite_f64(int64_t *count, const double *x , int64_t n) { (void)count; (void)x; (void)n; return FF_EBADARG; }
