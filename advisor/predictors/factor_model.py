"""A probabilistic factor model for a matrix with missing entries and known row covariates.

Rows are things measured (models), columns are measurements (benchmarks); most entries are
missing. Each row ``i`` has ``k`` latent factors ``z_i`` whose prior mean depends on the row's
covariates ``x_i``; each column ``j`` has a mean, loadings and its own noise::

    y[i, j] = mean_[j] + loadings_[j] @ z_i + e,   e ~ N(0, noise_[j])
    z_i ~ N(coef_.T @ x_i, I)

This is factor analysis (probabilistic PCA with a noise variance per column) with a regression
prior on the factors, fitted by expectation-maximisation over the observed entries only, with
ridge penalties on the loadings and on the covariate coefficients. The posterior of ``z_i``
given a row's observed entries is Gaussian, so every entry, observed or not, gets a predictive
mean and variance: a row with many observed entries is pinned down by them, a row with none
falls back on its covariates and gets the wider interval of the prior. numpy only: each EM step
is a handful of matrix products over all rows at once.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from advisor.vocabulary.errors import InvalidInputError

log = logging.getLogger(__name__)


def _outer(a: np.ndarray) -> np.ndarray:
    """Row-wise outer products, flattened: ``(r, k) -> (r, k * k)``."""
    return (a[:, :, None] * a[:, None, :]).reshape(len(a), -1)


class CovariateFactorModel:
    """EM fit of ``y = mean + loadings @ z + noise`` with ``z ~ N(coef.T @ x, I)``.

    Parameters: ``n_factors`` (k >= 1); ``alpha_loadings`` (ridge penalty on each column's
    loadings, > 0); ``covariate_penalty`` (ridge penalty on the covariate coefficients, one
    number or one per covariate, >= 0); ``noise_floor`` (smallest noise variance a column may
    get, > 0, in the units of ``Y``); ``max_iter``; ``tol`` (stop when no parameter moves more
    than this in one step); ``random_state`` (initial loadings).

    Fitted attributes: ``mean_`` (d,), ``loadings_`` (d, k), ``noise_`` (d,), ``coef_`` (p, k),
    ``n_iter_``.
    """

    mean_: np.ndarray
    loadings_: np.ndarray
    noise_: np.ndarray
    coef_: np.ndarray
    n_iter_: int

    def __init__(self, n_factors: int = 4, *, alpha_loadings: float = 1.0,
                 covariate_penalty: float | np.ndarray = 1.0, noise_floor: float = 0.05,
                 max_iter: int = 500, tol: float = 1e-3, random_state: int = 0) -> None:
        self.n_factors = n_factors
        self.alpha_loadings = alpha_loadings
        self.covariate_penalty = covariate_penalty
        self.noise_floor = noise_floor
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _check(self, Y: Any, X: Any) -> tuple[np.ndarray, np.ndarray]:
        Y, X = np.asarray(Y, dtype=float), np.asarray(X, dtype=float)
        if Y.ndim != 2 or X.ndim != 2 or len(Y) != len(X):
            raise InvalidInputError(f"Y must be (n, d) and X (n, p) with the same n, got "
                                    f"{Y.shape} and {X.shape}", parameter="Y")
        if not np.isfinite(X).all():
            raise InvalidInputError("X (covariates) must be finite; encode unknown covariates "
                                    "with an indicator column", parameter="X")
        if np.isinf(Y).any():
            raise InvalidInputError("Y must be finite or NaN (missing)", parameter="Y")
        if not (isinstance(self.n_factors, int) and self.n_factors >= 1):
            raise InvalidInputError(f"n_factors must be a whole number >= 1, got "
                                    f"{self.n_factors!r}", parameter="n_factors")
        for name, value in (("alpha_loadings", self.alpha_loadings),
                            ("noise_floor", self.noise_floor)):
            if not value > 0:
                raise InvalidInputError(f"{name} must be > 0, got {value!r}", parameter=name)
        return Y, X

    def fit(self, Y: Any, X: Any, *, init: CovariateFactorModel | None = None
            ) -> CovariateFactorModel:
        """Fit on ``Y`` (n, d; NaN = missing) and covariates ``X`` (n, p).

        ``init``: a fitted model on the same columns and covariates to start from (a warm
        start for refits on a subset of the entries).
        """
        Y, X = self._check(Y, X)
        observed = ~np.isnan(Y)
        mask = observed.astype(float)
        Y0 = np.where(observed, Y, 0.0)
        n, d = Y.shape
        k, p = self.n_factors, X.shape[1]
        counts = np.maximum(observed.sum(axis=0), 1)
        if init is not None:
            mean, loadings = init.mean_.copy(), init.loadings_.copy()
            noise, coef = init.noise_.copy(), init.coef_.copy()
        else:
            rng = np.random.default_rng(self.random_state)
            mean = Y0.sum(axis=0) / counts
            loadings = rng.normal(scale=0.1, size=(d, k))
            noise, coef = np.ones(d), np.zeros((p, k))
        ridge = np.eye(k + 1) * self.alpha_loadings
        ridge[0, 0] = 1e-9  # the column mean is not shrunk
        penalty = np.broadcast_to(np.asarray(self.covariate_penalty, dtype=float), (p,))
        gram_inv_xt = np.linalg.solve(X.T @ X + np.diag(penalty), X.T)
        y2 = Y0 ** 2
        for it in range(1, self.max_iter + 1):
            self.n_iter_ = it
            z, cov = self._posterior_factors(Y0, mask, X, mean, loadings, noise, coef)
            ez = np.concatenate([np.ones((n, 1)), z], axis=1)          # E[(1, z)]
            ezz = ez[:, :, None] * ez[:, None, :]
            ezz[:, 1:, 1:] += cov                                      # E[(1, z)(1, z)']
            ezz_flat = ezz.reshape(n, -1)
            lhs = (mask.T @ ezz_flat).reshape(d, k + 1, k + 1) + ridge
            solution = np.linalg.solve(lhs, (Y0.T @ ez)[..., None])[..., 0]
            quad = ezz_flat @ _outer(solution).T
            resid2 = (y2 - 2 * Y0 * (ez @ solution.T) + quad) * mask
            new_noise = np.maximum(resid2.sum(axis=0) / counts, self.noise_floor)
            coef = gram_inv_xt @ z
            step = max(np.abs(solution[:, 0] - mean).max(),
                       np.abs(solution[:, 1:] - loadings).max(),
                       np.abs(new_noise - noise).max())
            mean, loadings, noise = solution[:, 0], solution[:, 1:], new_noise
            if step < self.tol:
                break
        else:
            log.info("factor model: no convergence after %d EM steps (last step %.2g)",
                     self.max_iter, step)
        self.mean_, self.loadings_, self.noise_, self.coef_ = mean, loadings, noise, coef
        return self

    @staticmethod
    def _posterior_factors(Y0: np.ndarray, mask: np.ndarray, X: np.ndarray, mean: np.ndarray,
                           loadings: np.ndarray, noise: np.ndarray, coef: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean (n, k) and covariance (n, k, k) of every row's factors."""
        n, k = len(Y0), loadings.shape[1]
        precision = mask / noise
        cov = np.linalg.inv((precision @ _outer(loadings)).reshape(n, k, k) + np.eye(k))
        rhs = ((Y0 - mean) * precision) @ loadings + X @ coef
        return np.einsum("nkl,nl->nk", cov, rhs), cov

    def predict(self, Y: Any, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Predictive mean and variance (both (n, d)) of every entry, given each row's
        observed entries in ``Y`` (NaN = missing) and its covariates ``X``."""
        if not hasattr(self, "mean_"):
            raise InvalidInputError("the factor model is not fitted; call fit first",
                                    parameter="model")
        Y, X = self._check(Y, X)
        observed = ~np.isnan(Y)
        z, cov = self._posterior_factors(np.where(observed, Y, 0.0), observed.astype(float), X,
                                         self.mean_, self.loadings_, self.noise_, self.coef_)
        mean = self.mean_ + z @ self.loadings_.T
        var = cov.reshape(len(Y), -1) @ _outer(self.loadings_).T + self.noise_
        return mean, var
