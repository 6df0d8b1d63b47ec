/*
 * residual.c -- the skip connection: y = x + fx forward, dx += dy backward (the branch's
 * backward has already written dx; the skip path adds its share). Body in residual.inc.
 */
#include "ff_internal.h"

#define FF_BODY "residual.inc"
#include "ff_instantiate.h"
