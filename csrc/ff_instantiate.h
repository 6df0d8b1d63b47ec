/*
 * ff_instantiate.h -- include FF_BODY twice, once per dtype. Usage in <op>.c:
 *     #define FF_BODY "<op>.inc"
 *     #include "ff_instantiate.h"
 * No include guard: it is meant to be included once per body.
 */
#define FF_T float
#define FF_UINT uint32_t /* same-width unsigned, for bit tricks */
#define FF_SUFFIX f32
#include FF_BODY
#undef FF_T
#undef FF_UINT
#undef FF_SUFFIX

#define FF_T double
#define FF_UINT uint64_t
#define FF_SUFFIX f64
#include FF_BODY
#undef FF_T
#undef FF_UINT
#undef FF_SUFFIX

#undef FF_BODY
