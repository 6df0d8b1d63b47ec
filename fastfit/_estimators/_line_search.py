"""The Moré-Thuente line search, as L-BFGS-B runs it (MINPACK-2's dcsrch and dcstep).

J. J. Moré and D. J. Thuente, "Line search algorithms with guaranteed sufficient
decrease", ACM TOMS 20 (1994). A step t > 0 is sought with

    phi(t) <= phi(0) + ftol t phi'(0)   and   |phi'(t)| <= gtol |phi'(0)|

(the strong Wolfe conditions). The interval of uncertainty [stx, sty] is kept around the
best step so far (stx) and shrunk by safeguarded cubic and quadratic steps (``_step``);
while nothing is bracketed the step grows by 1.1 to 4 times. In the first stage, while
phi has not yet dropped below the sufficient-decrease line with a non-negative slope, the
steps are chosen on phi shifted by that line. fastfit's compact L-BFGS runs it with
L-BFGS-B's constants (ftol 1e-3, gtol 0.9, xtol 0.1, steps in [0, 1e10]) so that, with
the same direction, it takes L-BFGS-B's steps and the iterates agree to rounding
(tests/test_lbfgs.py). The bracket-and-zoom search it replaced (Nocedal and Wright,
algorithms 3.5-3.6, doubling then quadratic steps) needed 1.15-1.5x L-BFGS-B's iterations
to converge on three binary text problems (scratch s8/conv5.py), and 1.27 evaluations an
iteration where this one needs ~1.15.

One addition: a trial whose phi or slope is not finite (an overflowing loss) is not fed
to the interpolation; the step is halved towards the best one and the steps are capped
below it from then on.
"""

from __future__ import annotations

import math

__all__ = ["more_thuente"]

_XTRAP_LOWER, _XTRAP_UPPER = 1.1, 4.0


def _cubic_min(a, fa, da, b, fb, db):
    """dcstep's theta and gamma of the cubic through (a, fa, da) and (b, fb, db), from
    which each case forms its minimiser (gamma's sign picks the root). The discriminant is
    clamped at 0 (dcstep does so in one case; in the others it is >= 0 but for rounding)."""
    theta = 3.0 * (fa - fb) / (b - a) + da + db
    s = max(abs(theta), abs(da), abs(db))
    gamma = s * math.sqrt(max(0.0, (theta / s) ** 2 - (da / s) * (db / s)))
    return theta, gamma


def _cubic_towards(stp, fp, dp, o, fo, do):
    """The minimiser of the cubic through (stp, fp, dp) and (o, fo, do), as a step from
    stp towards o (dcstep's second and fourth cases)."""
    theta, gamma = _cubic_min(o, fo, do, stp, fp, dp)
    if stp > o:
        gamma = -gamma
    p = (gamma - dp) + theta
    q = ((gamma - dp) + gamma) + do
    return stp + p / q * (o - stp)


def _step(stx, fx, dx, sty, fy, dy, stp, fp, dp, brackt, stpmin, stpmax):
    """dcstep: the next trial step from the best step (stx), the other end (sty) and the
    latest trial (stp), and the updated interval. Returns (stx, fx, dx, sty, fy, dy,
    stp, brackt)."""
    opposite = dp < 0 < dx or dx < 0 < dp  # sign(dp) sign(dx) < 0: a zero is neither
    if fp > fx:
        # higher value: the minimum is bracketed; cubic or the mean with the quadratic
        theta, gamma = _cubic_min(stx, fx, dx, stp, fp, dp)
        if stp < stx:
            gamma = -gamma
        p = (gamma - dx) + theta
        q = ((gamma - dx) + gamma) + dp
        stpc = stx + p / q * (stp - stx)
        stpq = stx + ((dx / ((fx - fp) / (stp - stx) + dx)) / 2.0) * (stp - stx)
        stpf = stpc if abs(stpc - stx) <= abs(stpq - stx) else stpc + (stpq - stpc) / 2.0
        brackt = True
    elif opposite:
        # lower value, slopes of opposite sign: bracketed; the step farther from stp
        stpc = _cubic_towards(stp, fp, dp, stx, fx, dx)
        stpq = stp + (dp / (dp - dx)) * (stx - stp)
        stpf = stpc if abs(stpc - stp) > abs(stpq - stp) else stpq
        brackt = True
    elif abs(dp) < abs(dx):
        # lower value, same sign, the slope shrinking: the cubic only if it heads the
        # right way, safeguarded inside the bracket or clipped to the step bounds
        theta, gamma = _cubic_min(stx, fx, dx, stp, fp, dp)
        if stp > stx:
            gamma = -gamma
        p = (gamma - dp) + theta
        q = (gamma + (dx - dp)) + gamma
        r = p / q
        if r < 0 and gamma != 0:
            stpc = stp + r * (stx - stp)
        else:
            stpc = stpmax if stp > stx else stpmin
        stpq = stp + (dp / (dp - dx)) * (stx - stp)
        if brackt:
            stpf = stpc if abs(stpc - stp) < abs(stpq - stp) else stpq
            edge = stp + 0.66 * (sty - stp)
            stpf = min(edge, stpf) if stp > stx else max(edge, stpf)
        else:
            stpf = stpc if abs(stpc - stp) > abs(stpq - stp) else stpq
            stpf = min(max(stpf, stpmin), stpmax)
    elif brackt:
        # lower value, same sign, the slope not shrinking: the cubic through stp and sty
        stpf = _cubic_towards(stp, fp, dp, sty, fy, dy)
    else:
        stpf = stpmax if stp > stx else stpmin
    if fp > fx:
        sty, fy, dy = stp, fp, dp
    else:
        if opposite:
            sty, fy, dy = stx, fx, dx
        stx, fx, dx = stp, fp, dp
    return stx, fx, dx, sty, fy, dy, stpf, brackt


def more_thuente(phi, f0, d0, t, max_evals, ftol=1e-3, gtol=0.9, xtol=0.1, t_max=1e10):
    """Search along a descent direction from the trial step t (> 0; at most t_max).

    ``phi(t) -> (f, slope, point)`` evaluates each trial once; ``f0, d0`` are phi and
    its slope at 0 (d0 < 0). Returns (t, f, point) of the accepted step: one meeting the
    strong Wolfe conditions, or, as dcsrch, the last trial when rounding or the interval
    (xtol) stop the search (then with a finite f). None after max_evals trials or when
    no finite value is found.
    """
    t = min(t, t_max)  # L-BFGS-B's first step, min(1 / |d|, stpmx)
    gtest = ftol * d0
    brackt, stage = False, 1
    stx, fx, gx = 0.0, f0, d0
    sty, fy, gy = 0.0, f0, d0
    stmin, stmax = 0.0, t + _XTRAP_UPPER * t
    width = t_max
    width1 = 2.0 * width
    for _ in range(max_evals):
        f, g, point = phi(t)
        if not (math.isfinite(f) and math.isfinite(g)):
            t_max = t * (1.0 - 1e-12)  # a wall: stay below it
            t = stx + 0.5 * (t - stx)
            stmax = min(stmax, t_max)
            continue
        ftest = f0 + t * gtest
        if stage == 1 and f <= ftest and g >= 0:
            stage = 2
        if f <= ftest and abs(g) <= -gtol * d0:
            return t, f, point
        if brackt and (t <= stmin or t >= stmax or stmax - stmin <= xtol * stmax):
            return t, f, point  # dcsrch's warnings: L-BFGS-B takes the point
        if (t == t_max and f <= ftest and g <= gtest) or (t == 0.0 and (f > ftest or
                                                                  g >= gtest)):
            return t, f, point  # dcsrch's warnings at the step bounds
        try:
            if stage == 1 and fx >= f > ftest:
                # the shifted phi - gtest t, whose minimiser the first stage looks for
                out = _step(stx, fx - stx * gtest, gx - gtest, sty, fy - sty * gtest,
                            gy - gtest, t, f - t * gtest, g - gtest, brackt, stmin, stmax)
                stx, fx, gx, sty, fy, gy, t, brackt = out
                fx, fy = fx + stx * gtest, fy + sty * gtest
                gx, gy = gx + gtest, gy + gtest
            else:
                stx, fx, gx, sty, fy, gy, t, brackt = _step(stx, fx, gx, sty, fy, gy, t, f, g,
                                                            brackt, stmin, stmax)
        except ZeroDivisionError:  # a degenerate interpolation (dcsrch: a NaN step)
            return (t, f, point) if f <= f0 else None
        if brackt:
            if abs(sty - stx) >= 0.66 * width1:  # too slow a shrink: bisect
                t = stx + 0.5 * (sty - stx)
            width1, width = width, abs(sty - stx)
            stmin, stmax = min(stx, sty), max(stx, sty)
        else:
            stmin, stmax = t + _XTRAP_LOWER * (t - stx), t + _XTRAP_UPPER * (t - stx)
        t = min(max(t, 0.0), t_max)
        if brackt and (t <= stmin or t >= stmax or stmax - stmin <= xtol * stmax):
            t = stx  # no further progress: the best step
    return None
