"""GPU twins of fastfit.ops' layer wrappers: activations, softmax, batch norm, dropout,
residual. Same arguments, checks and results as the CPU functions."""

from __future__ import annotations

import numpy as np

from fastfit._lib import U64, activation_code, int_arg
from fastfit.cuda import kernels as K
from fastfit.cuda._device import as_device, is_device, to_device
from fastfit.cuda.ops._args import Call
from fastfit.ops._layers import _check_p

__all__ = [
    "activation_forward", "activation_backward", "softmax",
    "batchnorm_forward", "batchnorm_inference", "batchnorm_backward",
    "dropout_forward", "dropout_backward",
    "residual_forward", "residual_backward",
]


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
    dy = call.float("dy", dy)
    act = activation_code(activation)
    x = call.float("x", x, dtype=dy.dtype, shape=dy.shape)
    y = call.float("y", y, dtype=dy.dtype, shape=dy.shape)
    if activation == "gelu" or (activation == "leaky_relu" and negative_slope < 0):
        if x is None:
            raise ValueError(f"activation_backward({activation!r}) needs x (the forward input)")
    elif activation != "identity" and y is None:
        raise ValueError(f"activation_backward({activation!r}) needs y (the forward output)")
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


def _bn_params(call, x, gamma, beta):
    x = call.float("x", x, ndim=2)
    c = x.shape[1]
    gamma = call.float("gamma", gamma, dtype=x.dtype, shape=(c,))
    beta = call.float("beta", beta, dtype=x.dtype, shape=(c,))
    return x, gamma, beta


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
    x, gamma, beta = _bn_params(call, x, gamma, beta)
    n, c = x.shape
    rm = call.inout("running_mean", running_mean, x.dtype, (c,)) if running_mean is not None else None
    rv = call.inout("running_var", running_var, x.dtype, (c,)) if running_var is not None else None
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
    x, gamma, beta = _bn_params(call, x, gamma, beta)
    n, c = x.shape
    rm = call.float("running_mean", running_mean, dtype=x.dtype, shape=(c,))
    rv = call.float("running_var", running_var, dtype=x.dtype, shape=(c,))
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
    dy = call.float("dy", dy, ndim=2)
    n, c = dy.shape
    x = call.float("x", x, dtype=dy.dtype, shape=dy.shape)
    gamma, mean, rstd = (call.float(name, a, dtype=dy.dtype, shape=(c,))
                         for name, a in (("gamma", gamma), ("mean", mean), ("rstd", rstd)))
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
    x = call.float("x", x)
    p = _check_p(p)
    seed = int_arg("seed", seed, 0, U64)
    offset = int_arg("offset", offset, 0, U64)
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
    if is_device(mask):
        mask = as_device(mask)
    else:
        mask = np.asarray(mask)
    if mask.dtype != np.uint8:
        raise TypeError(f"mask must be uint8 (as returned by dropout_forward), got dtype {mask.dtype}")
    if tuple(mask.shape) != tuple(dy.shape):
        raise ValueError(f"mask must have shape {tuple(dy.shape)}, got {tuple(mask.shape)}")
    if not is_device(mask):
        mask = to_device(mask)
    p = _check_p(p)
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
    x = call.float("x", x)
    fx = call.float("fx", fx, dtype=x.dtype, shape=x.shape)
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
    if not is_device(dx):
        if not isinstance(dx, np.ndarray):
            raise TypeError("dx must be a NumPy array (it is updated in place)")
    if dx.dtype not in (np.float32, np.float64):
        raise TypeError(f"dx must be float32 or float64, got dtype {dx.dtype}")
    ddx = call.inout("dx", dx, dx.dtype, tuple(dx.shape))
    dy = call.float("dy", dy, dtype=dx.dtype, shape=tuple(dx.shape))
    call.done(K.ff_residual_backward(ddx, dy, ddx.size), "residual_backward")
    return dx
