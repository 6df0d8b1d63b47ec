"""GPU twins of fastfit.ops' layer wrappers: activations, softmax, batch norm, dropout,
residual. Same arguments, checks and results as the CPU functions."""

from __future__ import annotations

import numpy as np

from fastfit._lib import activation_code
from fastfit.cuda import kernels as K
from fastfit.cuda._device import as_device, is_device, to_device
from fastfit.cuda.ops._args import Call
from fastfit.ops._args import (activation_backward_args, batchnorm_backward_args,
                               batchnorm_forward_args, batchnorm_inference_args, check_mask,
                               dropout_forward_args, dropout_p, residual_forward_args)

from fastfit.ops._layers import __all__ as _CPU_ALL  # the same names as the CPU module

__all__ = list(_CPU_ALL)


def activation_forward(x, activation="relu", negative_slope=0.01):
    """Apply an activation element-wise on the GPU; see :func:`fastfit.ops.activation_forward`.

    Parameters
    ----------
    x : array of float32 or float64, any shape (NumPy or device)
    activation : {"identity", "relu", "leaky_relu", "tanh", "sigmoid", "gelu"}
    negative_slope : float

    Returns
    -------
    y : array, same shape and dtype as ``x`` (NumPy for NumPy input)
    """
    call = Call(x)
    x = call.float("x", x)
    act = activation_code(activation)
    y = call.empty(x.shape, x.dtype)
    call.done(K.ff_activation_forward(y, x, x.size, act, negative_slope), "activation_forward")
    return call.out(y)


def activation_backward(dy, activation, x=None, y=None, negative_slope=0.01):
    """Gradient of an activation, ``dx = dy * act'(x)``, on the GPU; see
    :func:`fastfit.ops.activation_backward`.

    Parameters
    ----------
    dy : array of float32 or float64
    activation : str
    x : array, optional
        The forward input (gelu; leaky_relu with a negative slope).
    y : array, optional
        The forward output (relu, leaky_relu, tanh, sigmoid).
    negative_slope : float

    Returns
    -------
    dx : array, same shape and dtype as ``dy``
    """
    call = Call(dy, x, y)
    dy, act, x, y = activation_backward_args(dy, activation, x, y, negative_slope, call.float)
    dx = call.empty(dy.shape, dy.dtype)
    call.done(K.ff_activation_backward(dx, dy, x, y, dy.size, act, negative_slope),
              "activation_backward")
    return call.out(dx)


def softmax(x):
    """Row-wise softmax of a 2-D array on the GPU; see :func:`fastfit.ops.softmax`.

    Parameters
    ----------
    x : array of shape (n, c), float32 or float64

    Returns
    -------
    y : array of shape (n, c)
    """
    call = Call(x)
    x = call.float("x", x, ndim=2)
    y = call.empty(x.shape, x.dtype)
    call.done(K.ff_softmax_forward(y, x, x.shape[0], x.shape[1]), "softmax")
    return call.out(y)


def batchnorm_forward(x, gamma, beta, eps=1e-5, running_mean=None, running_var=None, momentum=0.1):
    """Training-mode batch normalisation on the GPU; see :func:`fastfit.ops.batchnorm_forward`.

    Parameters
    ----------
    x : array of shape (n, c), float32 or float64
    gamma, beta : array of shape (c,)
    eps : float
    running_mean, running_var : array of shape (c,), optional
        Updated in place (host arrays too: the result is copied back into them).
    momentum : float in [0, 1]

    Returns
    -------
    y : array of shape (n, c)
    mean, rstd : array of shape (c,)
    """
    call = Call(x, gamma, beta, running_mean, running_var)
    x, gamma, beta, rm, rv = batchnorm_forward_args(x, gamma, beta, running_mean, running_var,
                                                    call.float, call.inout)
    n, c = x.shape
    y = call.empty(x.shape, x.dtype)
    mean = call.empty(c, x.dtype)
    rstd = call.empty(c, x.dtype)
    call.done(K.ff_batchnorm_forward(y, mean, rstd, rm, rv, x, gamma, beta, n, c, eps, momentum),
              "batchnorm_forward")
    return call.out(y), call.out(mean), call.out(rstd)


def batchnorm_inference(x, gamma, beta, running_mean, running_var, eps=1e-5):
    """Evaluation-mode batch normalisation on the GPU; see
    :func:`fastfit.ops.batchnorm_inference`.

    Parameters
    ----------
    x : array of shape (n, c)
    gamma, beta, running_mean, running_var : array of shape (c,)
    eps : float

    Returns
    -------
    y : array of shape (n, c)
    """
    call = Call(x, gamma, beta, running_mean, running_var)
    x, gamma, beta, rm, rv = batchnorm_inference_args(x, gamma, beta, running_mean, running_var,
                                                      call.float)
    n, c = x.shape
    y = call.empty(x.shape, x.dtype)
    call.done(K.ff_batchnorm_inference(y, x, gamma, beta, rm, rv, n, c, eps), "batchnorm_inference")
    return call.out(y)


def batchnorm_backward(dy, x, gamma, mean, rstd):
    """Gradients of training-mode batch normalisation on the GPU; see
    :func:`fastfit.ops.batchnorm_backward`.

    Parameters
    ----------
    dy, x : array of shape (n, c)
    gamma, mean, rstd : array of shape (c,)

    Returns
    -------
    dx : array of shape (n, c)
    dgamma, dbeta : array of shape (c,)
    """
    call = Call(dy, x, gamma, mean, rstd)
    dy, x, gamma, mean, rstd = batchnorm_backward_args(dy, x, gamma, mean, rstd, call.float)
    n, c = dy.shape
    dx = call.empty(dy.shape, dy.dtype)
    dgamma = call.zeros(c, dy.dtype)
    dbeta = call.zeros(c, dy.dtype)
    call.done(K.ff_batchnorm_backward(dx, dgamma, dbeta, dy, x, gamma, mean, rstd, n, c),
              "batchnorm_backward")
    return call.out(dx), call.out(dgamma), call.out(dbeta)


def dropout_forward(x, p, seed, offset=0):
    """Inverted dropout on the GPU, the same mask as :func:`fastfit.ops.dropout_forward`
    for the same ``(seed, offset)``.

    Parameters
    ----------
    x : array of float32 or float64, any shape
    p : float in [0, 1)
    seed, offset : int in [0, 2**64)

    Returns
    -------
    y : array like ``x``
    mask : array of uint8, same shape; 1 where kept
    """
    call = Call(x)
    x, p, seed, offset = dropout_forward_args(x, p, seed, offset, call.float)
    y = call.empty(x.shape, x.dtype)
    mask = call.empty(x.shape, np.uint8)
    call.done(K.ff_dropout_forward(y, mask, x, x.size, p, seed, offset), "dropout_forward")
    return call.out(y), call.out(mask)


def dropout_backward(dy, mask, p):
    """Gradient of inverted dropout on the GPU, ``dx = dy * mask / (1 - p)``.

    Parameters
    ----------
    dy : array of float32 or float64
    mask : array of uint8, same shape
    p : float in [0, 1)

    Returns
    -------
    dx : array like ``dy``
    """
    call = Call(dy, mask)
    dy = call.float("dy", dy)
    mask = check_mask(as_device(mask) if is_device(mask) else np.asarray(mask), dy.shape)
    if not is_device(mask):
        mask = to_device(mask)
    p = dropout_p(p)
    dx = call.empty(dy.shape, dy.dtype)
    call.done(K.ff_dropout_backward(dx, dy, mask, dy.size, p), "dropout_backward")
    return call.out(dx)


def residual_forward(x, fx):
    """Skip connection ``y = x + fx`` on the GPU.

    Parameters
    ----------
    x, fx : arrays of the same shape and float dtype

    Returns
    -------
    y : array
    """
    call = Call(x, fx)
    x, fx = residual_forward_args(x, fx, call.float)
    y = call.empty(x.shape, x.dtype)
    call.done(K.ff_residual_forward(y, x, fx, x.size), "residual_forward")
    return call.out(y)


def residual_backward(dx, dy):
    """``dx += dy`` in place on the GPU (a host ``dx`` is updated in place too).

    Parameters
    ----------
    dx : array of float32 or float64, C-contiguous and writeable
    dy : array, same shape and dtype

    Returns
    -------
    dx : the same array, updated
    """
    call = Call(dx, dy)
    ddx = call.inplace("dx", dx)
    dy = call.float("dy", dy, dtype=dx.dtype, shape=tuple(dx.shape))
    call.done(K.ff_residual_backward(ddx, dy, ddx.size), "residual_backward")
    return dx
