"""Deterministic sums over many items: fixed chunks, a fixed tree within a block.

Items are cut into chunks of CHUNK (the C kernels' FF_REDUCE_BLOCK); one block sums a
chunk (threads stride through it, then a shared-memory tree in a fixed order) into its
own slot of a partials buffer, and one block adds the partials the same way. The chunk
boundaries depend on the item count only, so the bits do not depend on the grid size
(or on atomics' arrival order, which is why there are none).
"""

from __future__ import annotations

from numba import cuda, float64

from fastfit.cuda._device import SIMULATOR

CHUNK = 4096
# threads per reduction block (a power of two: the tree halves it); fewer under the
# simulator, which runs each thread as a Python thread
RT = 32 if SIMULATOR else 256
MAX_CHUNK_BLOCKS = 4 if SIMULATOR else 2048


def nchunks(items: int) -> int:
    return max(1, -(-items // CHUNK))


def chunk_blocks(items: int) -> int:
    return min(nchunks(items), MAX_CHUNK_BLOCKS)


@cuda.jit(device=True, inline=True)
def block_sum(sh, acc):
    """Sum of acc over the block's RT threads (valid in thread 0); sh: shared (RT,) float64."""
    t = cuda.threadIdx.x
    sh[t] = acc
    cuda.syncthreads()
    w = RT // 2
    while w > 0:
        if t < w:
            sh[t] += sh[t + w]
        cuda.syncthreads()
        w //= 2
    total = sh[0]
    cuda.syncthreads()  # sh may be reused next
    return total


@cuda.jit
def k_sum_partials(out, part, count):
    """out[0] = sum of part[:count], one block, fixed order."""
    sh = cuda.shared.array(RT, float64)
    acc = float64(0)
    for i in range(cuda.threadIdx.x, count, RT):
        acc += part[i]
    total = block_sum(sh, acc)
    if cuda.threadIdx.x == 0:
        out[0] = total


@cuda.jit
def k_chunk_sum(part, x, n):
    """part[chunk] = sum of x over the chunk, in double (a weight sum)."""
    sh = cuda.shared.array(RT, float64)
    for ch in range(cuda.blockIdx.x, (n + CHUNK - 1) // CHUNK, cuda.gridDim.x):
        acc = float64(0)
        for i in range(ch * CHUNK + cuda.threadIdx.x, min(n, (ch + 1) * CHUNK), RT):
            acc += float64(x[i])
        total = block_sum(sh, acc)
        if cuda.threadIdx.x == 0:
            part[ch] = total


@cuda.jit
def k_chunk_sumsq(part, x, n):
    """part[chunk] = sum of x^2 over the chunk, in double (a gradient norm)."""
    sh = cuda.shared.array(RT, float64)
    for ch in range(cuda.blockIdx.x, (n + CHUNK - 1) // CHUNK, cuda.gridDim.x):
        acc = float64(0)
        for i in range(ch * CHUNK + cuda.threadIdx.x, min(n, (ch + 1) * CHUNK), RT):
            t = float64(x[i])
            acc += t * t
        total = block_sum(sh, acc)
        if cuda.threadIdx.x == 0:
            part[ch] = total
