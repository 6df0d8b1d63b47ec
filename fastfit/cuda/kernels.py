"""Kernel-level twins of csrc/fastfit.h: ``ff_<op>_<pass>`` with the C argument order.

Arguments are device arrays (flat or shaped, C-contiguous), sizes and hyper-parameters;
NULL is ``None``. The dtype suffix is dropped: Numba compiles one specialisation per
argument dtype from one body. Each function launches its kernels on the default stream
and returns an ``FF_*`` status like the C kernel; the arguments the host can check are
checked before any launch. Where the C kernel writes a scalar through a pointer (a
loss, a norm, a count), the twin writes element 0 of a length-1 array (float64, or
int64 for the count) on the host or the device.

Only the functions whose status or result depends on the data wait for the device: the
losses, the gradient norms, the gathers (index range) and the count.
"""

from __future__ import annotations

from fastfit.cuda._k_batchnorm import (ff_batchnorm_backward, ff_batchnorm_forward,
                                       ff_batchnorm_inference, ff_sum_rows)
from fastfit.cuda._k_data import (ff_count_nonfinite, ff_gather_i64, ff_gather_rows, ff_init,
                                  ff_philox_u32, ff_shuffle_i64)
from fastfit.cuda._k_elementwise import (ff_activation_backward, ff_activation_forward,
                                         ff_dropout_backward, ff_dropout_forward,
                                         ff_residual_backward, ff_residual_forward,
                                         ff_softmax_forward)
from fastfit.cuda._k_gemm import ff_gemm, ff_linear_backward, ff_linear_forward
from fastfit.cuda._k_losses import (ff_bce_logits_loss, ff_huber_loss, ff_mse_loss,
                                    ff_poisson_loss, ff_softmax_cross_entropy)
from fastfit.cuda._k_optim import (ff_adam_update, ff_clip_grad_norm, ff_grad_norm, ff_l1_update,
                                   ff_rmsprop_update, ff_sgd_update)
from fastfit.cuda._status import FF_EBADARG, FF_ENOMEM, FF_ENONFINITE, FF_OK

__all__ = [
    "FF_OK", "FF_EBADARG", "FF_ENOMEM", "FF_ENONFINITE",
    "ff_gemm", "ff_linear_forward", "ff_linear_backward", "ff_sum_rows",
    "ff_activation_forward", "ff_activation_backward", "ff_softmax_forward",
    "ff_batchnorm_forward", "ff_batchnorm_inference", "ff_batchnorm_backward",
    "ff_dropout_forward", "ff_dropout_backward", "ff_residual_forward", "ff_residual_backward",
    "ff_mse_loss", "ff_huber_loss", "ff_bce_logits_loss", "ff_softmax_cross_entropy",
    "ff_poisson_loss",
    "ff_sgd_update", "ff_rmsprop_update", "ff_adam_update", "ff_l1_update", "ff_grad_norm",
    "ff_clip_grad_norm",
    "ff_gather_rows", "ff_gather_i64", "ff_shuffle_i64", "ff_init", "ff_philox_u32",
    "ff_count_nonfinite",
]
