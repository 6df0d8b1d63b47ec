"""Wrappers for the layer kernels: activations, softmax, batch norm, dropout, residual.

Each function follows its first float input's dtype (float32 or float64), checks the
other arguments against it (TypeError for a dtype mismatch, ValueError for a shape
mismatch) and calls the matching ``ff_*_f32`` / ``ff_*_f64`` kernel once.
"""

from __future__ import annotations

import numpy as np

from fastfit._lib import activation_code, check_status, float_array, inplace_dtype, kernel, out_array, ptr
from fastfit.ops._args import (activation_backward_args, batchnorm_backward_args,
                               batchnorm_forward_args, batchnorm_inference_args, check_mask,
                               dropout_forward_args, dropout_p, residual_forward_args)
from fastfit.ops._out import Out, outputs

__all__ = [
    "activation_forward", "activation_backward", "softmax",
    "batchnorm_forward", "batchnorm_inference", "batchnorm_backward",
    "dropout_forward", "dropout_backward",
    "residual_forward", "residual_backward",
]

def activation_forward(x, activation="relu", negative_slope=0.01, *, out=None):
    """Apply an activation element-wise.

    Parameters
    ----------
    x : ndarray of float32 or float64, any shape
    activation : {"identity", "relu", "leaky_relu", "tanh", "sigmoid", "gelu"}
        ``gelu`` is the exact erf form (``torch.nn.GELU()``).
    negative_slope : float
        Slope of ``leaky_relu`` for negative inputs.
    out : ndarray, optional
        Receives ``y`` (``x``'s shape and dtype, C-contiguous, writeable) and is returned.
        It may be ``x`` itself (in place); any other overlap with ``x`` is a ValueError.

    Returns
    -------
    y : ndarray, same shape and dtype as ``x``
    """
    x = float_array("x", x)
    act = activation_code(activation)
    y = (np.empty_like(x) if out is None
         else outputs(out, (Out("y", x.dtype, x.shape, alias=("x",)),), (("x", x),))[0])
    check_status(kernel("activation_forward", x.dtype)(ptr(y), ptr(x), x.size, act, negative_slope),
                 "activation_forward")
    return y


def activation_backward(dy, activation, x=None, y=None, negative_slope=0.01, *, out=None):
    """Gradient of an activation: ``dx = dy * act'(x)``.

    Parameters
    ----------
    dy : ndarray of float32 or float64
        Gradient with respect to the activation's output.
    activation : str
        As in :func:`activation_forward`.
    x : ndarray, optional
        The pre-activation input; required for ``gelu`` (and for ``leaky_relu`` with a
        negative slope).
    y : ndarray, optional
        The forward output; required for ``relu``, ``leaky_relu``, ``tanh``, ``sigmoid``.
    negative_slope : float
        Slope of ``leaky_relu``.
    out : ndarray, optional
        Receives ``dx`` (``dy``'s shape and dtype, C-contiguous, writeable) and is
        returned. It may be ``dy`` itself (in place); it must not otherwise share memory
        with ``dy``, ``x`` or ``y``.

    Returns
    -------
    dx : ndarray, same shape and dtype as ``dy``
    """
    dy, act, x, y = activation_backward_args(dy, activation, x, y, negative_slope)
    dx = (np.empty_like(dy) if out is None
          else outputs(out, (Out("dx", dy.dtype, dy.shape, alias=("dy",)),),
                       (("dy", dy), ("x", x), ("y", y)))[0])
    check_status(kernel("activation_backward", dy.dtype)(ptr(dx), ptr(dy), ptr(x), ptr(y), dy.size,
                                                         act, negative_slope),
                 "activation_backward")
    return dx


def softmax(x, *, out=None):
    """Row-wise softmax of a 2-D array, computed stably (max subtracted).

    Parameters
    ----------
    x : ndarray of shape (n, c), float32 or float64
    out : ndarray of shape (n, c), optional
        Receives ``y`` (``x``'s dtype, C-contiguous, writeable) and is returned. It may
        be ``x`` itself (in place); any other overlap with ``x`` is a ValueError.

    Returns
    -------
    y : ndarray of shape (n, c); each row sums to 1
    """
    x = float_array("x", x, ndim=2)
    y = (np.empty_like(x) if out is None
         else outputs(out, (Out("y", x.dtype, x.shape, alias=("x",)),), (("x", x),))[0])
    check_status(kernel("softmax_forward", x.dtype)(ptr(y), ptr(x), x.shape[0], x.shape[1]), "softmax")
    return y


def batchnorm_forward(x, gamma, beta, eps=1e-5, running_mean=None, running_var=None, momentum=0.1,
                      *, out=None):
    """Batch normalisation in training mode over the rows of ``x``.

    ``y = (x - mean) / sqrt(var + eps) * gamma + beta`` with the batch mean and biased
    variance of each column. If given, ``running_mean`` and ``running_var`` are updated
    in place as ``(1 - momentum) * running + momentum * batch`` with the unbiased
    variance (left unchanged for a single row).

    Parameters
    ----------
    x : ndarray of shape (n, c), float32 or float64
    gamma, beta : ndarray of shape (c,)
    eps : float
    running_mean, running_var : ndarray of shape (c,), optional
        Updated in place; must be C-contiguous and of x's dtype.
    momentum : float in [0, 1]
    out : tuple of 3 ndarrays or None, optional
        ``(y, mean, rstd)`` receiving the results (shapes as returned, ``x``'s dtype,
        C-contiguous, writeable), returned in their place; a None entry gets a fresh
        array. They must not share memory with ``x``, ``gamma``, ``beta``, the running
        statistics or each other.

    Returns
    -------
    y : ndarray of shape (n, c)
    mean : ndarray of shape (c,)
        Batch mean, for :func:`batchnorm_backward`.
    rstd : ndarray of shape (c,)
        ``1 / sqrt(var + eps)``, for :func:`batchnorm_backward`.
    """
    x, gamma, beta, running_mean, running_var = batchnorm_forward_args(
        x, gamma, beta, running_mean, running_var)
    n, c = x.shape
    if out is None:
        y, mean, rstd = np.empty_like(x), np.empty(c, x.dtype), np.empty(c, x.dtype)
    else:
        y, mean, rstd = outputs(out, (Out("y", x.dtype, x.shape), Out("mean", x.dtype, (c,)),
                                      Out("rstd", x.dtype, (c,))),
                                (("x", x), ("gamma", gamma), ("beta", beta),
                                 ("running_mean", running_mean), ("running_var", running_var)))
    check_status(kernel("batchnorm_forward", x.dtype)(
        ptr(y), ptr(mean), ptr(rstd), ptr(running_mean), ptr(running_var), ptr(x), ptr(gamma),
        ptr(beta), n, c, eps, momentum), "batchnorm_forward")
    return y, mean, rstd


def batchnorm_inference(x, gamma, beta, running_mean, running_var, eps=1e-5, *, out=None):
    """Batch normalisation in evaluation mode, with the running statistics.

    Parameters
    ----------
    x : ndarray of shape (n, c)
    gamma, beta, running_mean, running_var : ndarray of shape (c,)
    eps : float
    out : ndarray of shape (n, c), optional
        Receives ``y`` (``x``'s dtype, C-contiguous, writeable) and is returned. It must
        not share memory with any input.

    Returns
    -------
    y : ndarray of shape (n, c)
    """
    x, gamma, beta, running_mean, running_var = batchnorm_inference_args(
        x, gamma, beta, running_mean, running_var)
    n, c = x.shape
    y = (np.empty_like(x) if out is None
         else outputs(out, (Out("y", x.dtype, x.shape),),
                      (("x", x), ("gamma", gamma), ("beta", beta),
                       ("running_mean", running_mean), ("running_var", running_var)))[0])
    check_status(kernel("batchnorm_inference", x.dtype)(
        ptr(y), ptr(x), ptr(gamma), ptr(beta), ptr(running_mean), ptr(running_var), n, c, eps),
        "batchnorm_inference")
    return y


def batchnorm_backward(dy, x, gamma, mean, rstd, *, out=None):
    """Gradients of training-mode batch normalisation.

    Parameters
    ----------
    dy : ndarray of shape (n, c)
    x : ndarray of shape (n, c)
        The forward input.
    gamma : ndarray of shape (c,)
    mean, rstd : ndarray of shape (c,)
        As returned by :func:`batchnorm_forward`.
    out : tuple of 3 ndarrays or None, optional
        ``(dx, dgamma, dbeta)`` receiving the gradients (shapes as returned, ``dy``'s
        dtype, C-contiguous, writeable), returned in their place; a None entry gets a
        fresh array. They are overwritten (not accumulated into) and must not share
        memory with any input or each other.

    Returns
    -------
    dx : ndarray of shape (n, c)
    dgamma, dbeta : ndarray of shape (c,)
    """
    dy, x, gamma, mean, rstd = batchnorm_backward_args(dy, x, gamma, mean, rstd)
    n, c = dy.shape
    # the kernel accumulates into dgamma and dbeta: they start at zero
    if out is None:
        dx, dgamma, dbeta = np.empty_like(dy), np.zeros(c, dy.dtype), np.zeros(c, dy.dtype)
    else:
        dx, dgamma, dbeta = outputs(
            out, (Out("dx", dy.dtype, dy.shape), Out("dgamma", dy.dtype, (c,), zero=True),
                  Out("dbeta", dy.dtype, (c,), zero=True)),
            (("dy", dy), ("x", x), ("gamma", gamma), ("mean", mean), ("rstd", rstd)))
    check_status(kernel("batchnorm_backward", dy.dtype)(
        ptr(dx), ptr(dgamma), ptr(dbeta), ptr(dy), ptr(x), ptr(gamma), ptr(mean), ptr(rstd), n, c),
        "batchnorm_backward")
    return dx, dgamma, dbeta


def dropout_forward(x, p, seed, offset=0, *, out=None):
    """Inverted dropout: keep each element with probability ``1 - p``, scale by ``1/(1-p)``.

    The mask depends only on ``(seed, offset + i)`` (Philox4x32-10), so it is the same
    for any thread count and for float32 and float64.

    Parameters
    ----------
    x : ndarray of float32 or float64, any shape
    p : float in [0, 1)
        Drop probability.
    seed : int in [0, 2**64)
    offset : int in [0, 2**64)
        Counter of the first element; give each call its own range.
    out : tuple of 2 ndarrays or None, optional
        ``(y, mask)`` receiving the results (``x``'s shape; ``x``'s dtype and uint8;
        C-contiguous, writeable), returned in their place; a None entry gets a fresh
        array. ``y`` may be ``x`` itself (in place); otherwise neither may share memory
        with ``x`` or the other.

    Returns
    -------
    y : ndarray, same shape and dtype as ``x``
    mask : ndarray of uint8, same shape; 1 where kept
    """
    x, p, seed, offset = dropout_forward_args(x, p, seed, offset)
    if out is None:
        y, mask = np.empty_like(x), np.empty(x.shape, np.uint8)
    else:
        y, mask = outputs(out, (Out("y", x.dtype, x.shape, alias=("x",)),
                                Out("mask", np.dtype(np.uint8), x.shape)), (("x", x),))
    check_status(kernel("dropout_forward", x.dtype)(ptr(y), ptr(mask), ptr(x), x.size, p, seed, offset),
                 "dropout_forward")
    return y, mask


def dropout_backward(dy, mask, p, *, out=None):
    """Gradient of inverted dropout: ``dx = dy * mask / (1 - p)``.

    Parameters
    ----------
    dy : ndarray of float32 or float64
    mask : ndarray of uint8, same shape, as returned by :func:`dropout_forward`
    p : float in [0, 1)
    out : ndarray, optional
        Receives ``dx`` (``dy``'s shape and dtype, C-contiguous, writeable) and is
        returned. It may be ``dy`` itself (in place); it must not otherwise share memory
        with ``dy`` or ``mask``.

    Returns
    -------
    dx : ndarray, same shape and dtype as ``dy``
    """
    dy = float_array("dy", dy)
    mask = np.ascontiguousarray(check_mask(np.asarray(mask), dy.shape))
    p = dropout_p(p)
    dx = (np.empty_like(dy) if out is None
          else outputs(out, (Out("dx", dy.dtype, dy.shape, alias=("dy",)),),
                       (("dy", dy), ("mask", mask)))[0])
    check_status(kernel("dropout_backward", dy.dtype)(ptr(dx), ptr(dy), ptr(mask), dy.size, p),
                 "dropout_backward")
    return dx


def residual_forward(x, fx, *, out=None):
    """Skip connection: ``y = x + fx``.

    Parameters
    ----------
    x, fx : ndarray of the same shape and float dtype
    out : ndarray, optional
        Receives ``y`` (``x``'s shape and dtype, C-contiguous, writeable) and is returned.
        It may be ``x`` or ``fx`` itself (in place); any other overlap is a ValueError.

    Returns
    -------
    y : ndarray
    """
    x, fx = residual_forward_args(x, fx)
    y = (np.empty_like(x) if out is None
         else outputs(out, (Out("y", x.dtype, x.shape, alias=("x", "fx")),),
                      (("x", x), ("fx", fx)))[0])
    check_status(kernel("residual_forward", x.dtype)(ptr(y), ptr(x), ptr(fx), x.size), "residual_forward")
    return y


def residual_backward(dx, dy):
    """Add the skip path's gradient into ``dx`` in place: ``dx += dy``.

    Parameters
    ----------
    dx : ndarray of float32 or float64, C-contiguous and writeable
        The branch's input gradient; updated in place.
    dy : ndarray, same shape and dtype

    Returns
    -------
    dx : ndarray
        The same array, updated.
    """
    out_array("dx", dx, inplace_dtype("dx", dx), dx.shape)
    dy = float_array("dy", dy, dtype=dx.dtype, shape=dx.shape)
    check_status(kernel("residual_backward", dx.dtype)(ptr(dx), ptr(dy), dx.size), "residual_backward")
    return dx
