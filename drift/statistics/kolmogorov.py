"""The two-sample Kolmogorov-Smirnov test against a prepared reference: D, where it is attained, and its p-value.

D and the p-value equal scipy's ``ks_2samp(method="asymp")`` (Hodges, "The significance probability of the Smirnov
two-sample test", Ark. Mat. 3, 1958; scipy's ``kstwo`` after Simard & L'Ecuyer, J. Stat. Softw. 39(11), 2011) but
avoid its per-feature cost: D is evaluated on a coarse grid of the reference ECDF first and only refined where a
bound says the maximum can still be, and the p-value is the same function as ``kstwo.sf`` evaluated for all features
at once. Only comparisons and counts touch the data, so any finite float64 input (1e300 included) gives scipy's result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import special, stats

# Reference ECDF points per grid cell in the pruned KS search; 32 keeps the grid search tiny while the bound
# (two cells of ECDF steps) stays tight enough that only a few percent of the cells need the exact pass.
_KS_GRID_STEP = 32
_KS_DIRECT_MAX = 4 * _KS_GRID_STEP
# scipy.special.smirnov switches to an approximation above this n (xsf SMIRNOV_MAX_COMPUTE_N).
_SMIRNOV_MAX_COMPUTE_N = 1_000_000
_DURBIN_SKIP_CDF = 1e-11


@dataclass(frozen=True)
class KsPoint:
    """Where two ECDFs are farthest apart: D = |reference - current| at x (both ECDFs right-continuous, at x)."""

    d: float
    x: float
    reference: float  # F_reference(x), in [0, 1]
    current: float  # F_window(x), in [0, 1]


@dataclass(frozen=True)
class _Gaps:
    """ECDF values at a set of distinct reference values (at them and just below them) and the largest gap."""

    point: KsPoint
    ref_at: np.ndarray
    ref_below: np.ndarray
    window_at: np.ndarray
    window_below: np.ndarray


@dataclass(frozen=True)
class KsGrid:
    """What the KS search needs of a reference alone (computed once per prepared reference feature): the reference
    indices searched first (None: all of them) and the reference ECDF at and just below each of those values."""

    indices: np.ndarray | None
    values: np.ndarray
    ref_at: np.ndarray
    ref_below: np.ndarray


def ks_grid(ref_values: np.ndarray, ref_cumulative: np.ndarray) -> KsGrid:
    """Return the first-pass KS grid of a prepared reference feature (distinct finite values ascending, cumulative
    counts; at least one value)."""
    n1 = int(ref_cumulative[-1])
    size = ref_values.size
    if size <= _KS_DIRECT_MAX:
        previous = np.concatenate(([0], ref_cumulative[:-1]))
        return KsGrid(indices=None, values=ref_values, ref_at=ref_cumulative / n1, ref_below=previous / n1)
    # Every _KS_GRID_STEP-th reference value, and the last.
    grid = np.arange(0, size + _KS_GRID_STEP - 1, _KS_GRID_STEP)
    grid[-1] = size - 1
    previous = ref_cumulative[grid - 1]
    previous[0] = 0
    return KsGrid(indices=grid, values=ref_values[grid], ref_at=ref_cumulative[grid] / n1, ref_below=previous / n1)


def ks_statistic_located(
    ref_values: np.ndarray, ref_cumulative: np.ndarray, window_sorted: np.ndarray, grid: KsGrid | None = None
) -> KsPoint:
    """Return the two-sample KS D (bit-identical to ks_2samp's) of a prepared reference (distinct finite values
    ascending, cumulative counts) and a non-empty sorted finite window, with the point where it is attained; `grid`
    is ks_grid of the reference (computed here when None)."""
    # D = max |F_ref - F_win| over all sample points. It suffices to look at each unique reference value u_k,
    # both at u_k (counts <= u_k) and just below it (ref counts < u_k, window counts < u_k): between two
    # reference values F_ref is flat, so |F_ref - F_win| peaks at an end of the window's run there. Every pair of
    # counts used is attained at some sample point, so the float result is bit-identical to ks_2samp's.
    if grid is None:
        grid = ks_grid(ref_values, ref_cumulative)
    n1 = int(ref_cumulative[-1])
    n2 = int(window_sorted.size)
    size = ref_values.size
    # Exact values on the grid first (on every reference value when the reference is small).
    coarse = _ks_gaps(grid.values, grid.ref_at, grid.ref_below, window_sorted, n2, ref_values, grid.indices)
    if grid.indices is None:
        return coarse.point
    # Branch and bound: for reference indices strictly between grid points lo < k < hi, the reference counts lie
    # in [c_lo, c_(hi-1)] and the window counts in [R_lo, L_hi], so |difference| is at most `bound`. Float
    # division and subtraction are monotone, so the bound also holds for the rounded values.
    bound = np.maximum(coarse.ref_below[1:] - coarse.window_at[:-1], coarse.window_below[1:] - coarse.ref_at[:-1])
    cells = np.flatnonzero(bound > coarse.point.d)
    if cells.size == 0:
        return coarse.point
    # Every reference index inside the open cells; the last cell may be shorter, and a repeated index is harmless.
    inside = np.minimum((grid.indices[cells][:, None] + np.arange(1, _KS_GRID_STEP)).ravel(), size - 1)
    refined = _ks_gaps(
        ref_values[inside],
        ref_cumulative[inside] / n1,
        ref_cumulative[inside - 1] / n1,
        window_sorted,
        n2,
        ref_values,
        inside,
    ).point
    return refined if refined.d > coarse.point.d else coarse.point


def _ks_gaps(
    values: np.ndarray,
    ref_at: np.ndarray,
    ref_below: np.ndarray,
    window_sorted: np.ndarray,
    n2: int,
    ref_values: np.ndarray,
    indices: np.ndarray | None,
) -> _Gaps:
    """Return the ECDFs at some distinct reference values (ascending; the reference ECDF at and just below each is
    given) and just below them, and the point of their largest difference; `indices` places them in ref_values
    (None: all of it)."""
    right = window_sorted.searchsorted(values, side="right")
    # right == 0 reads window_sorted[-1], the window maximum, which is then above the value: never a false tie.
    tied = window_sorted[right - 1] == values
    if tied.any():
        # Only values that tie with a window value need the second search; for the others left == right.
        left = right.copy()
        left[tied] = window_sorted.searchsorted(values[tied], side="left")
    else:
        left = right
    window_at = right / n2
    window_below = window_at if left is right else left / n2
    gap_at = np.abs(ref_at - window_at)
    gap_below = np.abs(ref_below - window_below)
    at = int(gap_at.argmax())
    below = int(gap_below.argmax())
    if gap_at[at] >= gap_below[below]:
        point = KsPoint(
            d=float(gap_at[at]), x=float(values[at]), reference=float(ref_at[at]), current=float(window_at[at])
        )
    else:
        # Just below values[below]: at the largest sample point under it, where both ECDFs take their left limits
        # (some sample has a point there, since one of the two counts below is positive).
        candidates = []
        position = below if indices is None else int(indices[below])
        if position > 0:
            candidates.append(float(ref_values[position - 1]))
        if left[below] > 0:
            candidates.append(float(window_sorted[left[below] - 1]))
        point = KsPoint(
            d=float(gap_below[below]),
            x=max(candidates),
            reference=float(ref_below[below]),
            current=float(window_below[below]),
        )
    return _Gaps(point=point, ref_at=ref_at, ref_below=ref_below, window_at=window_at, window_below=window_below)


def ks_asymptotic_p_value(d: np.ndarray, n1: np.ndarray, n2: np.ndarray) -> np.ndarray:
    """Return ks_2samp(method="asymp") p-values: kstwo.sf(d, round(n1 * n2 / (n1 + n2))), clipped to [0, 1]."""
    larger = np.maximum(n1, n2)
    smaller = np.minimum(n1, n2)
    n = np.round(larger * smaller / (larger + smaller))
    p = kstwo_sf(d, n)
    # scipy answers NaN when round(en) is 0 (one value on each side); with no evidence either way that is p = 1.
    return np.clip(np.where(np.isnan(p), 1.0, p), 0.0, 1.0)


def kstwo_sf(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Return scipy.stats.kstwo.sf(x, n), vectorized; the expensive branches of scipy are evaluated in numpy."""
    # Mirrors scipy.stats._ksstats._kolmogn(cdf=False). scipy evaluates it one (x, n) at a time in Python, and for
    # 2.2 <= n x^2 < 370 it calls the exact one-sided smirnov(n, x), a double-double loop over n terms (~25 ms
    # at n = 25,000). Here those branches are computed for all features at once; the rest go to scipy.
    x = np.asarray(x, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    result = np.full(x.shape, np.nan)
    valid = n >= 1
    result[valid & (x >= 1.0)] = 0.0
    t = n * x
    result[valid & (x < 1.0) & (t <= 0.5)] = 1.0
    pending = valid & np.isnan(result)
    nx_squared = t * x
    large = pending & (n > 140) & (t > 1.0) & (t < n - 1) & (x < 0.5)
    zero = large & (nx_squared >= 370.0)
    result[zero] = 0.0
    smirnov = large & (nx_squared >= 2.2) & (nx_squared < 370.0)
    for index in np.flatnonzero(smirnov):
        result[index] = min(max(2.0 * _smirnov_sf(int(n[index]), float(x[index])), 0.0), 1.0)
    below = large & (nx_squared < 2.2)
    if below.any():
        # For z -> 0 the series overflows before the underflow mask discards it; scipy returns 1 there too.
        with np.errstate(all="ignore"):
            cdf = _pelz_good_cdf(n[below], x[below])
        # For tiny D scipy runs the exact Durbin matrix method in Python (~10 ms at n = 25,000, ~35 ms at 100,000).
        # Where the CDF is below _DURBIN_SKIP_CDF, Pelz-Good agrees with it to ~1e-15 absolute, so 1 - CDF is
        # used there too; larger CDFs in that branch (small n) still go to scipy.
        durbin = (n[below] <= 100000) & (n[below] * x[below] ** 1.5 <= 1.4)
        use = ~durbin | (cdf < _DURBIN_SKIP_CDF)
        result[np.flatnonzero(below)[use]] = np.clip(1.0 - cdf[use], 0.0, 1.0)
    rest = pending & np.isnan(result)
    if rest.any():
        result[rest] = stats.kstwo.sf(x[rest], n[rest])
    return result


@lru_cache(maxsize=8)
def _log_binomials(n: int) -> np.ndarray:
    """Return log C(n, v) for v = 0..n (cached: in a drift run most features share the same n)."""
    v = np.arange(n + 1, dtype=np.float64)
    logs: np.ndarray = special.gammaln(n + 1.0) - special.gammaln(v + 1.0) - special.gammaln(n - v + 1.0)
    logs.flags.writeable = False
    return logs


def _smirnov_sf(n: int, x: float) -> float:
    """Return scipy.special.smirnov(n, x) for 1/n < x < 1 - 1/n, summing Birnbaum-Tingey terms in log space."""
    if n > _SMIRNOV_MAX_COMPUTE_N:
        # scipy's own approximation for very large n.
        log_p = -((6.0 * n * x + 1) ** 2) / 18.0 / n
        return math.exp(log_p) if log_p < -math.log(2) else 1.0 - (-math.expm1(log_p))
    # P(D+ >= x) = x * sum_{v=0}^{floor(n(1-x))} C(n, v) (1 - x - v/n)^(n-v) (x + v/n)^(v-1); every term is
    # positive, so summing exp(log term) keeps relative precision (about 1e-11 at n = 25,000).
    last = n - math.floor(n * x) - 1
    v = np.arange(last + 1, dtype=np.float64)
    upper = (n - v) / n - x
    lower = x + v / n
    keep = upper > 0.0
    v, upper, lower = v[keep], upper[keep], lower[keep]
    log_terms = _log_binomials(n)[v.astype(np.int64)] + (n - v) * np.log(upper) + (v - 1.0) * np.log(lower)
    return min(max(x * float(np.sum(np.exp(log_terms))), 0.0), 1.0)


_PI_SQUARED = np.pi**2
_PI_FOUR = np.pi**4
_PI_SIX = np.pi**6
_SQRT2PI = np.sqrt(2 * np.pi)
_SQRT3 = np.sqrt(3)


def _pelz_good_cdf(n: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Return scipy's Pelz-Good approximation of P(D_n <= x), vectorized over (n, x) pairs."""
    # scipy (_ksstats._kolmogn_PelzGood) sums c_k q^((2k-1)^2) for k <= ceil(16 z / pi) by Horner's rule in a
    # Python loop; the same terms are summed here as a [pairs, k] matrix, equal up to rounding.
    z = np.sqrt(n) * x
    zsquared, zthree, zfour, zsix = z**2, z**3, z**4, z**6
    qlog = -_PI_SQUARED / 8 / zsquared
    maxk = np.ceil(16 * z / np.pi).astype(np.int64)
    k = np.arange(1, int(maxk.max(initial=1)) + 1)
    active = k[None, :] <= maxk[:, None]
    msquared = ((2 * k - 1) ** 2)[None, :].astype(np.float64)
    mfour, msix = msquared**2, msquared**3
    weights = np.where(active, np.exp(qlog[:, None] * msquared), 0.0)
    zs = [value[:, None] for value in (zsquared, zfour, zsix, z**8)]
    k1 = -zs[0] + _PI_SQUARED / 4 * msquared
    k2 = (6 * zs[2] + 2 * zs[1]) + (2 * zs[1] - 5 * zs[0]) * _PI_SQUARED / 4 * msquared
    k2 = k2 + _PI_FOUR * (1 - 2 * zs[0]) / 16 * mfour
    k3 = (-30 * zs[2] - 90 * zs[3]) + _PI_SQUARED * (135 * zs[1] - 96 * zs[2]) / 4 * msquared
    k3 = k3 + _PI_FOUR * (-60 * zs[0] + 212 * zs[1]) / 16 * mfour + _PI_SIX * (5 - 30 * zs[0]) / 64 * msix
    terms = np.stack([weights.sum(axis=1), (weights * k1).sum(axis=1), (weights * k2).sum(axis=1)])
    terms = np.vstack([terms, (weights * k3).sum(axis=1)[None, :]])
    terms *= _SQRT2PI
    terms /= np.stack([z, 6 * zfour, 72 * z**7, 6480 * z**10])
    # The second series, over all integers k.
    q2 = np.exp(-_PI_SQUARED / 2 / zsquared)
    ksquared = (k**2)[None, :]
    qpowers = np.where(active, q2[:, None] ** ksquared, 0.0)
    sqrt3z = (_SQRT3 * z)[:, None]
    kspi = (np.pi * k)[None, :]
    terms[2] += np.sum(ksquared * qpowers, axis=1) * (_PI_SQUARED * _SQRT2PI / (-36 * zthree))
    terms[3] += np.sum((sqrt3z + kspi) * (sqrt3z - kspi) * ksquared * qpowers, axis=1) * (
        _PI_SQUARED * _SQRT2PI / (216 * zsix)
    )
    terms /= np.power(n[None, :] * 1.0, np.arange(4)[:, None] / 2.0)
    cdf = ((terms[0] + terms[1]) + terms[2]) + terms[3]
    # scipy returns 0 when q underflows (z below ~0.0417).
    return np.where(qlog < -708, 0.0, cdf)
