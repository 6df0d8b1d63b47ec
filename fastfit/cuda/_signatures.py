"""Argument types of every raw kernel, per float dtype: what ``cuda.compile_ptx`` needs to
compile them for a real target (tests, and ahead-of-time checks without a GPU).

The simulator does not type-check; compiling each kernel for compute capability 9.0
through NVVM does, and the PTX shows whether a float32 kernel stayed in float32.
"""

from __future__ import annotations

from numba import types

from fastfit.cuda import _device, _k_batchnorm as bn, _k_data as data, _k_elementwise as ew
from fastfit.cuda import _k_gemm as gemm, _k_losses as loss, _k_optim as opt, _reduce as red
from fastfit.cuda import _ops as ops
from fastfit.cuda import _train as train


def signatures(T):
    """[(name, kernel, argument types, float32-only?)] for float type T (types.float32/64).

    The last field marks the kernels that must not compute in double when T is float32
    (the others accumulate in double on purpose, like the C kernels)."""
    A = T[::1]
    D, I32, I64, U8, U32 = types.float64[::1], types.int32[::1], types.int64[::1], types.uint8[::1], types.uint32[::1]
    i, u, b, none = types.int64, types.uint64, types.boolean, types.none
    return [
        ("fill_zero", _device._fill_zero, (A,), True),
        ("activation_forward", ew._k_activation_forward, (A, A, i, i, T), True),
        ("activation_backward", ew._k_activation_backward, (A, A, A, A, i, i, T), True),
        ("softmax_forward", ew._k_softmax_forward, (A, A, i, i), True),
        ("dropout_forward", ew._k_dropout_forward, (A, U8, A, i, T, u, u), False),
        ("dropout_backward", ew._k_dropout_backward, (A, A, U8, i, T), True),
        ("residual_forward", ew._k_residual_forward, (A, A, A, i), True),
        ("residual_backward", ew._k_residual_backward, (A, A, i), True),
        ("bn_fwd_stats", bn._k_fwd_stats, (D, D, A, i, i, i), False),
        ("bn_bwd_stats", bn._k_bwd_stats, (D, D, A, A, A, i, i, i), False),
        ("bn_fwd_finalize", bn._k_fwd_finalize, (A, A, A, A, A, D, D, A, A, i, i, i, T, T), False),
        ("bn_fwd_finalize_norunning", bn._k_fwd_finalize,
         (A, A, none, none, A, D, D, A, A, i, i, i, T, T), False),
        ("bn_bwd_finalize", bn._k_bwd_finalize, (A, A, A, D, D, A, A, i, i, i), False),
        ("bn_fwd_apply", bn._k_fwd_apply, (A, A, A, A, A, i, i), True),
        ("bn_bwd_apply", bn._k_bwd_apply, (A, A, A, A, A, i, i), True),
        ("bn_inference_coef", bn._k_inference_coef, (A, A, A, i, T), False),
        ("col_sums", bn._k_col_sums, (D, A, i, i, i), False),
        ("col_add", bn._k_col_add, (A, D, i, i), False),
        ("sum_partials", red.k_sum_partials, (D, D, i), False),
        ("chunk_sum", red.k_chunk_sum, (D, A, i), False),
        ("chunk_sumsq", red.k_chunk_sumsq, (D, A, i), False),
        ("elementwise_loss", loss._k_elementwise_loss, (D, A, A, A, A, D, i, i, i, T), False),
        ("elementwise_loss_unweighted", loss._k_elementwise_loss,
         (D, A, A, A, none, D, i, i, i, T), False),
        ("softmax_ce", loss._k_softmax_ce, (D, I32, A, A, I64, A, D, i, i), False),
        ("softmax_ce_unweighted", loss._k_softmax_ce, (D, I32, A, A, I64, none, D, i, i), False),
        ("loss_finish", loss._k_finish, (D, D, D, I32, types.float64), False),
        ("sgd", opt._k_sgd, (A, A, A, i, T, T, T, i, b), True),
        ("rmsprop", opt._k_rmsprop, (A, A, A, A, i, T, T, T, T, T, T, b, b), True),
        ("adam", opt._k_adam, (A, A, A, A, i) + (T,) * 9 + (i,), True),
        ("l1", opt._k_l1, (A, i, T), True),
        ("scale_if_over", opt._k_scale_if_over, (A, i, D, types.float64), False),
        ("gather_rows", data._k_gather_rows, (A, I32, A, I64, i, i, i), True),
        ("gather_i64", data._k_gather_rows, (I64, I32, I64, I64, i, i, i), True),
        ("check_idx", data._k_check_idx, (I32, I64, i, i), True),
        ("shuffle_partners", data._k_shuffle_partners, (I64, i, u, u), False),
        ("shuffle_swaps", data._k_shuffle_swaps, (I64, I64, i), True),
        ("init", data._k_init, (A, i, types.float64, b, u, u), False),
        ("philox_u32", data._k_philox_u32, (U32, i, u, u), True),
        ("count_nonfinite", data._k_count_nonfinite, (I64, A, i), True),
        ("gemm_tiled", gemm._k_gemm_tiled, (A, A, A, A, i, i, i, i, i, i, b, b, T, T, i, T), True),
        ("gemm_tiled_nobias", gemm._k_gemm_tiled,
         (A, A, A, none, i, i, i, i, i, i, b, b, T, T, i, T), True),
        ("gemm_epilogue", gemm._k_epilogue, (A, A, A, i, i, i, T, T, b, i, T), True),
        # the training loop (fastfit/cuda/_train.py) and its op kinds (fastfit/cuda/_ops.py)
        ("train_gather_batch", train._k_gather_batch, (A, A, A, A, A, A, A, I64, i, i, i, i), True),
        ("train_gather_batch_labels", train._k_gather_batch,
         (A, A, I64, none, A, I64, none, I64, i, i, i, i), True),
        ("train_bn_apply_act", ops._k_bn_apply_act, (A, A, A, A, A, A, i, i, i, T), True),
        ("train_bn_bwd_stats_act", ops._k_bn_bwd_stats_act,
         (D, D, A, A, A, A, A, A, i, i, i, i, T), False),
        ("train_col_sum_add", ops._k_col_sum_add, (A, A, i, i), False),
        ("train_copy", ops._k_copy, (A, A, i), True),
        ("train_add_bias", ops._k_add_bias, (A, A, i, i), True),
        ("train_account", train._k_account,
         (D, D, D, A, A, i, i, i, types.float64, D, types.float64, b), False),
        ("train_account_labels", train._k_account,
         (D, D, D, A, I64, i, i, i, types.float64, D, types.float64, b), False),
        ("train_check_norm", train._k_check_norm, (D, D, types.float64), False),
        ("train_reset", train._k_reset, (D,), False),
    ]
