# ruff: noqa: N803, N806  (course-assignment names: W, X, Y)
"""A corpus of hand-written NumPy gradients in the style of well-known course assignments, each
family with a correct version and a buggy one (a realistic bug), for :func:`diffcmp.check` with
and without ``loss=`` (tests/test_check_corpus.py, benchmarks/check_corpus.py).

Every value is seeded. ``loss`` is the family's loss in diffcmp's language where the language
can express it (integer labels enter it one-hot, as ``Y``; the functions take the integer ``y``,
and receive only what their signature names), ``None`` where it cannot (a 3-d weight).
:func:`wrong_components` says which components a buggy gradient really gets wrong, so that a
message can be checked to name one of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from diffcmp.symbolic.problem import component_names


@dataclass(frozen=True)
class Family:
    """One family: its point, data, loss (or None) and a correct and a buggy function."""

    name: str
    params: dict[str, np.ndarray]
    data: dict[str, Any]
    loss: str | None
    correct: Callable[..., Any]
    buggy: Callable[..., Any]
    #: What the bug is, for the table.
    bug: str
    tags: tuple[str, ...] = field(default=())


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _onehot(y: np.ndarray, c: int) -> np.ndarray:
    return np.eye(c)[y]


# -- softmax cross-entropy, looped (integer labels) ----------------------------------------------

def softmax_loop(W, X, y):
    n = X.shape[0]
    loss, dW = 0.0, np.zeros_like(W)
    for i in range(n):
        s = X[i] @ W
        s = s - s.max()
        p = np.exp(s) / np.exp(s).sum()
        loss -= np.log(p[y[i]])
        for j in range(W.shape[1]):
            dW[:, j] += (p[j] - (j == y[i])) * X[i]
    return loss / n, dW / n


def softmax_loop_bug(W, X, y):  # the label's -1 only for the first sample (a loop-index slip)
    n = X.shape[0]
    loss, dW = 0.0, np.zeros_like(W)
    for i in range(n):
        s = X[i] @ W
        s = s - s.max()
        p = np.exp(s) / np.exp(s).sum()
        loss -= np.log(p[y[i]])
        for j in range(W.shape[1]):
            dW[:, j] += (p[j] - (j == y[0])) * X[i]
    return loss / n, dW / n


# -- softmax cross-entropy, vectorised -----------------------------------------------------------

def softmax_vec(W, b, X, y):
    n = X.shape[0]
    s = X @ W + b
    s = s - s.max(axis=1, keepdims=True)
    p = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(n), y]).mean()
    d = p.copy()
    d[np.arange(n), y] -= 1
    d /= n
    return loss, {"W": X.T @ d, "b": d.sum(axis=0)}


def softmax_vec_bug(W, b, X, y):  # the bias gradient summed over the classes, not the batch
    loss, grads = softmax_vec(W, b, X, y)
    n = X.shape[0]
    s = X @ W + b
    s = s - s.max(axis=1, keepdims=True)
    p = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
    d = p.copy()
    d[np.arange(n), y] -= 1
    grads["b"] = (d / n).sum(axis=0) + 0.1 * (d / n)[0]
    return loss, grads


# -- softmax without the max shift: NaN at logits near 1000 ---------------------------------------

def softmax_unshifted(W, X, y):
    n = X.shape[0]
    s = X @ W
    p = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(n), y]).mean()
    d = p.copy()
    d[np.arange(n), y] -= 1
    return loss, X.T @ d / n  # a single param: its gradient alone


def softmax_shifted(W, X, y):
    n = X.shape[0]
    s = X @ W
    s = s - s.max(axis=1, keepdims=True)
    e = np.exp(s)
    p = e / e.sum(axis=1, keepdims=True)
    loss = -(s[np.arange(n), y] - np.log(e.sum(axis=1))).mean()
    d = p.copy()
    d[np.arange(n), y] -= 1
    return loss, X.T @ d / n


# -- multiclass SVM at a zero margin (a tie) ------------------------------------------------------

def svm(W, X, y):
    n = X.shape[0]
    s = X @ W
    margins = s - s[np.arange(n), y][:, None] + 1
    margins[np.arange(n), y] = 0
    loss = np.maximum(margins, 0).sum() / n
    mask = (margins > 0).astype(float)
    mask[np.arange(n), y] = -mask.sum(axis=1)
    return loss, X.T @ mask / n


def svm_tie_bug(W, X, y):  # the mask uses >, the count >=: wrong only at a zero margin
    n = X.shape[0]
    s = X @ W
    margins = s - s[np.arange(n), y][:, None] + 1
    margins[np.arange(n), y] = -1
    loss = np.maximum(margins, 0).sum() / n
    mask = (margins > 0).astype(float)
    mask[np.arange(n), y] = -(margins >= 0).sum(axis=1)
    return loss, X.T @ mask / n


# -- logistic regression with L2 ------------------------------------------------------------------

def logistic_l2(w, X, y, lam):
    z = X @ w
    p = 1 / (1 + np.exp(-z))
    loss = np.mean(np.logaddexp(0, z) - y * z) + lam * w @ w
    return loss, X.T @ (p - y) / len(y) + 2 * lam * w


def logistic_l2_bug(w, X, y, lam):  # the derivative of lam |w|^2 taken as lam w
    loss, g = logistic_l2(w, X, y, lam)
    return loss, g - lam * w


# -- a two-layer net (tanh, squared error) --------------------------------------------------------

def two_layer(W1, b1, w2, X, y):
    h = np.tanh(X @ W1 + b1)
    r = h @ w2 - y
    n = len(y)
    loss = np.mean(r**2)
    dh = np.outer(2 * r / n, w2) * (1 - h**2)
    return loss, {"W1": X.T @ dh, "b1": dh.sum(axis=0), "w2": h.T @ (2 * r / n)}


def two_layer_bug(W1, b1, w2, X, y):  # the bias gradient averaged, not summed
    loss, g = two_layer(W1, b1, w2, X, y)
    h = np.tanh(X @ W1 + b1)
    r = h @ w2 - y
    dh = np.outer(2 * r / len(y), w2) * (1 - h**2)
    g["b1"] = dh.mean(axis=0)
    return loss, g


# -- a relu layer with a unit exactly at 0, and a bug beside it -----------------------------------

def relu_net(W, v, X, y):
    z = X @ W
    h = np.maximum(z, 0)
    r = h @ v - y
    n = len(y)
    dh = np.outer(r / n, v) * (z > 0)
    return 0.5 * np.mean(r**2), {"W": X.T @ dh, "v": h.T @ r / n}


def relu_net_bug(W, v, X, y):  # v's gradient not divided by the batch size
    loss, g = relu_net(W, v, X, y)
    h = np.maximum(X @ W, 0)
    g["v"] = h.T @ (h @ v - y)
    return loss, g


# -- elastic net at a sparse point (w[1] == 0) ----------------------------------------------------

def elastic(w, X, y):
    r = X @ w - y
    loss = np.mean(r**2) + 0.1 * np.abs(w).sum() + 0.05 * w @ w
    return loss, 2 * X.T @ r / len(y) + 0.1 * np.sign(w) + 0.1 * w


def elastic_bug(w, X, y):  # the factor 2 of the square missing: beside the kink at w[1]
    r = X @ w - y
    loss = np.mean(r**2) + 0.1 * np.abs(w).sum() + 0.05 * w @ w
    return loss, X.T @ r / len(y) + 0.1 * np.sign(w) + 0.1 * w


# -- batch norm (the gradient with respect to the input, gamma and beta) --------------------------

EPS_BN = 1e-5


def batchnorm(x, gamma, beta, G):
    mu = x.mean(axis=0)
    var = x.var(axis=0)
    inv = 1 / np.sqrt(var + EPS_BN)
    xhat = (x - mu) * inv
    loss = np.sum((gamma * xhat + beta) * G)
    dxhat = G * gamma
    n = x.shape[0]
    dx = inv / n * (n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))
    return loss, {"x": dx, "gamma": (G * xhat).sum(axis=0), "beta": G.sum(axis=0)}


def batchnorm_bug(x, gamma, beta, G):  # the backward forgets eps (1e-5): a small, real error
    loss, g = batchnorm(x, gamma, beta, G)
    mu, var = x.mean(axis=0), x.var(axis=0)
    inv = 1 / np.sqrt(var)
    xhat = (x - mu) * inv
    dxhat = G * gamma
    n = x.shape[0]
    g["x"] = inv / n * (n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))
    return loss, g


# -- layer norm -----------------------------------------------------------------------------------

def layernorm(x, gamma, G):
    mu = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    inv = 1 / np.sqrt(var + EPS_BN)
    xhat = (x - mu) * inv
    loss = np.sum(gamma * xhat * G)
    dxhat = G * gamma
    d = x.shape[1]
    dx = inv / d * (d * dxhat - dxhat.sum(axis=1, keepdims=True)
                    - xhat * (dxhat * xhat).sum(axis=1, keepdims=True))
    return loss, {"x": dx, "gamma": (G * xhat).sum(axis=0)}


def layernorm_bug(x, gamma, G):  # the mean term of the input gradient left out
    loss, g = layernorm(x, gamma, G)
    mu, var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)
    inv = 1 / np.sqrt(var + EPS_BN)
    xhat = (x - mu) * inv
    dxhat = G * gamma
    d = x.shape[1]
    g["x"] = inv / d * (d * dxhat - xhat * (dxhat * xhat).sum(axis=1, keepdims=True))
    return loss, g


# -- an RNN step ----------------------------------------------------------------------------------

def rnn_step(Wx, Wh, b, x, h, G):
    hn = np.tanh(x @ Wx + h @ Wh + b)
    da = G * (1 - hn**2)
    return np.sum(hn * G), {"Wx": x.T @ da, "Wh": h.T @ da, "b": da.sum(axis=0)}


def rnn_step_bug(Wx, Wh, b, x, h, G):  # Wh's gradient from the new state, not the previous one
    loss, g = rnn_step(Wx, Wh, b, x, h, G)
    hn = np.tanh(x @ Wx + h @ Wh + b)
    g["Wh"] = hn.T @ (G * (1 - hn**2))
    return loss, g


# -- a Gaussian negative log-likelihood -----------------------------------------------------------

def gauss_nll(mu, log_sigma, x):
    z = (x - mu) * np.exp(-log_sigma)
    loss = np.sum(log_sigma + 0.5 * z**2)
    return loss, {"mu": -z * np.exp(-log_sigma), "log_sigma": 1 - z**2}


def gauss_nll_bug(mu, log_sigma, x):  # d/d log_sigma of 0.5 z^2 taken as -0.5 z^2
    loss, g = gauss_nll(mu, log_sigma, x)
    z = (x - mu) * np.exp(-log_sigma)
    g["log_sigma"] = 1 - 0.5 * z**2
    return loss, g


# -- Huber regression -----------------------------------------------------------------------------

def huber(w, X, y):
    r = X @ w - y
    small = np.abs(r) <= 1
    loss = np.sum(np.where(small, 0.5 * r**2, np.abs(r) - 0.5))
    return loss, X.T @ np.where(small, r, np.sign(r))


def huber_bug(w, X, y):  # the linear region's derivative taken as r, like the quadratic one
    r = X @ w - y
    small = np.abs(r) <= 1
    loss = np.sum(np.where(small, 0.5 * r**2, np.abs(r) - 0.5))
    return loss, X.T @ r


# -- cosine similarity ----------------------------------------------------------------------------

def cosine(a, b):
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    c = a @ b / (na * nb)
    return c, b / (na * nb) - c * a / na**2


def cosine_bug(a, b):  # the norm's own derivative left out
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return a @ b / (na * nb), b / (na * nb)


# -- log-sum-exp ----------------------------------------------------------------------------------

def lse(x):
    m = x.max()
    e = np.exp(x - m)
    return m + np.log(e.sum()), e / e.sum()


def lse_bug(x):  # shifted numerator, unshifted denominator
    m = x.max()
    e = np.exp(x - m)
    return m + np.log(e.sum()), e / np.exp(x).sum()


# -- GMM means (unit covariances) -----------------------------------------------------------------

def gmm_means(mu, X, logpi):
    d2 = ((X[:, None, :] - mu[None, :, :]) ** 2).sum(axis=2)
    a = logpi - 0.5 * d2
    m = a.max(axis=1, keepdims=True)
    r = np.exp(a - m)
    s = r.sum(axis=1, keepdims=True)
    r /= s
    loss = -np.sum(m[:, 0] + np.log(s[:, 0]))
    return loss, -(r[:, :, None] * (X[:, None, :] - mu[None, :, :])).sum(axis=0)


def gmm_means_bug(mu, X, logpi):  # responsibilities not normalised
    loss, _ = gmm_means(mu, X, logpi)
    d2 = ((X[:, None, :] - mu[None, :, :]) ** 2).sum(axis=2)
    r = np.exp(logpi - 0.5 * d2)
    return loss, -(r[:, :, None] * (X[:, None, :] - mu[None, :, :])).sum(axis=0)


# -- a 1-d convolution's 3-d weight ---------------------------------------------------------------

def conv(W, x, G):
    k = W.shape[2]
    t = x.shape[1] - k + 1
    patches = np.stack([x[:, s:s + k] for s in range(t)])  # (t, i, k)
    out = np.einsum("oik,tik->ot", W, patches)
    return np.sum(out * G), np.einsum("ot,tik->oik", G, patches)


def conv_bug(W, x, G):  # the kernel flipped in the backward (convolution for correlation)
    loss, g = conv(W, x, G)
    return loss, g[:, :, ::-1]


# -- the corpus -----------------------------------------------------------------------------------

def families() -> list[Family]:
    """Every family, seeded."""
    out = []
    r = _rng(1)
    X, y = r.standard_normal((6, 3)), np.array([0, 2, 1, 2, 0, 1])
    data = {"X": X, "y": y, "Y": _onehot(y, 3)}
    ce = "-mean(sum(Y * log_softmax(X @ W, axis=1), axis=1))"
    out.append(Family("softmax_loop", {"W": r.standard_normal((3, 3))}, data, ce, softmax_loop,
                      softmax_loop_bug, "the label of sample 0 used for every sample",
                      ("integer labels",)))
    out.append(Family("softmax_vec", {"W": r.standard_normal((3, 3)), "b": r.standard_normal(3)},
                      data, "-mean(sum(Y * log_softmax(X @ W + b, axis=1), axis=1))",
                      softmax_vec, softmax_vec_bug, "a stray term in the bias gradient",
                      ("integer labels",)))
    big = np.array([[400.0, -300.0, 100.0], [-200.0, 500.0, 0.0], [300.0, 100.0, -400.0]])
    # logits near 1000 (X[0] @ big: about 800)
    out.append(Family("softmax_nan", {"W": big}, data, ce, softmax_shifted, softmax_unshifted,
                      "no max shift: exp overflows, NaN", ("NaN", "bare gradient")))
    # the SVM at a tie: sample 0 has margin s_01 - s_00 + 1 == 0 exactly (dyadic values)
    Xs = np.array([[1.0, 0.5], [0.25, -1.0], [-0.5, 0.75], [1.5, 1.0]])
    ys = np.array([0, 1, 2, 1])
    Ws = np.array([[0.5, -0.5, 0.25], [0.125, 0.125, -0.75]])  # s_0 = [0.5625, -0.4375, ...]
    svm_loss = ("sum((1 - Y) * max(X @ W - reshape(sum(Y * (X @ W), axis=1), (-1, 1)) + 1, 0)) "
                "/ 4")
    out.append(Family("svm_tie", {"W": Ws}, {"X": Xs, "y": ys, "Y": _onehot(ys, 3)}, svm_loss,
                      svm, svm_tie_bug, "mask > beside count >=: wrong only at a zero margin",
                      ("tie", "integer labels")))
    X2, y2 = r.standard_normal((8, 4)), (r.random(8) > 0.5).astype(float)
    out.append(Family("logistic_l2", {"w": r.standard_normal(4)},
                      {"X": X2, "y": y2, "lam": 0.1},
                      "mean(softplus(X @ w) - y * (X @ w)) + 0.1 * sum(w**2)", logistic_l2,
                      logistic_l2_bug, "d(lam |w|^2) taken as lam w"))
    X3, y3 = r.standard_normal((5, 3)), r.standard_normal(5)
    out.append(Family("two_layer", {"W1": r.standard_normal((3, 4)), "b1": r.standard_normal(4),
                                    "w2": r.standard_normal(4)}, {"X": X3, "y": y3},
                      "mean((tanh(X @ W1 + b1) @ w2 - y)**2)", two_layer, two_layer_bug,
                      "the bias gradient averaged, not summed"))
    # relu: unit 0's pre-activation is exactly 0 at sample 0 (X[0] @ W[:, 0] == 0)
    Xr = np.array([[1.0, -1.0], [0.5, 2.0], [-1.5, 0.25], [2.0, 1.0]])
    Wr = np.array([[0.5, -0.25, 1.0], [0.5, 0.75, -0.5]])
    yr = np.array([0.5, -1.0, 0.25, 1.5])
    out.append(Family("relu_net", {"W": Wr, "v": np.array([1.0, -0.5, 0.75])},
                      {"X": Xr, "y": yr}, "0.5 * mean((relu(X @ W) @ v - y)**2)", relu_net,
                      relu_net_bug, "v's gradient not divided by the batch size", ("kink",)))
    Xe, ye = r.standard_normal((6, 4)), r.standard_normal(6)
    out.append(Family("elastic_net", {"w": np.array([0.5, 0.0, -0.3, 0.8])}, {"X": Xe, "y": ye},
                      "mean((X @ w - y)**2) + 0.1 * sum(abs(w)) + 0.05 * sum(w**2)", elastic,
                      elastic_bug, "the factor 2 of the square missing, beside a kink",
                      ("beside a kink",)))
    G = r.standard_normal((4, 3))
    bn = ("sum((gamma * (x - mean(x, axis=0)) / sqrt(mean((x - mean(x, axis=0))**2, axis=0) "
          "+ 0.00001) + beta) * G)")
    out.append(Family("batchnorm", {"x": r.standard_normal((4, 3)), "gamma": r.random(3) + 0.5,
                                    "beta": r.standard_normal(3)}, {"G": G}, bn, batchnorm,
                      batchnorm_bug, "eps (1e-5) left out of the backward"))
    ln = ("sum(gamma * (x - reshape(mean(x, axis=1), (-1, 1))) / reshape(sqrt(mean((x - "
          "reshape(mean(x, axis=1), (-1, 1)))**2, axis=1) + 0.00001), (-1, 1)) * G)")
    out.append(Family("layernorm", {"x": r.standard_normal((3, 4)), "gamma": r.random(4) + 0.5},
                      {"G": r.standard_normal((3, 4))}, ln, layernorm, layernorm_bug,
                      "the mean term of the input gradient left out"))
    out.append(Family("rnn_step", {"Wx": r.standard_normal((3, 4)) * 0.5,
                                   "Wh": r.standard_normal((4, 4)) * 0.5,
                                   "b": r.standard_normal(4) * 0.1},
                      {"x": r.standard_normal((2, 3)), "h": r.standard_normal((2, 4)),
                       "G": r.standard_normal((2, 4))},
                      "sum(tanh(x @ Wx + h @ Wh + b) * G)", rnn_step, rnn_step_bug,
                      "Wh's gradient from the new state, not the previous one"))
    out.append(Family("gauss_nll", {"mu": r.standard_normal(5), "log_sigma": r.standard_normal(5)
                                    * 0.3}, {"x": r.standard_normal(5)},
                      "sum(log_sigma + 0.5 * ((x - mu) * exp(-log_sigma))**2)", gauss_nll,
                      gauss_nll_bug, "d(z^2/2)/d log_sigma halved"))
    Xh = r.standard_normal((6, 3))
    out.append(Family("huber", {"w": r.standard_normal(3) * 2}, {"X": Xh,
                                                                 "y": r.standard_normal(6)},
                      "sum(where(abs(X @ w - y) <= 1, 0.5 * (X @ w - y)**2, abs(X @ w - y) - "
                      "0.5))", huber, huber_bug, "the linear region's derivative taken as r"))
    out.append(Family("cosine", {"a": r.standard_normal(5)}, {"b": r.standard_normal(5)},
                      "dot(a, b) / (norm(a) * norm(b))", cosine, cosine_bug,
                      "the norm's derivative left out"))
    out.append(Family("logsumexp", {"x": r.standard_normal(6) + 2}, {}, "logsumexp(x)", lse,
                      lse_bug, "shifted numerator, unshifted denominator"))
    Xg = np.vstack([r.standard_normal((4, 2)) + 2, r.standard_normal((4, 2)) - 2])
    gmm = ("-sum(logsumexp(logpi - 0.5 * (reshape(sum(X**2, axis=1), (-1, 1)) - 2 * X @ mu.T "
           "+ reshape(sum(mu**2, axis=1), (1, -1))), axis=1))")
    out.append(Family("gmm_means", {"mu": np.array([[1.5, 1.0], [-1.0, -2.5]])},
                      {"X": Xg, "logpi": np.log(np.array([0.4, 0.6]))}, gmm, gmm_means,
                      gmm_means_bug, "responsibilities not normalised"))
    out.append(Family("conv3d_weight", {"W": r.standard_normal((2, 2, 3))},
                      {"x": r.standard_normal((2, 7)), "G": r.standard_normal((2, 5))}, None,
                      conv, conv_bug, "the kernel flipped in the backward", ("3-d weight",)))
    return out


def flat_gradient(fn: Callable[..., Any], params: dict[str, np.ndarray],
                  data: dict[str, Any]) -> np.ndarray:
    """A family function's gradient, flat in the params' order (data it does not name left out,
    as diffcmp does)."""
    import inspect

    names = set(inspect.signature(fn).parameters)
    _, grads = fn(**params, **{k: v for k, v in data.items() if k in names})
    if not isinstance(grads, dict):
        grads = {next(iter(params)): grads}
    return np.concatenate([np.asarray(grads[k], dtype=float).ravel() for k in params])


def wrong_components(family: Family) -> set[str]:
    """The components where the buggy gradient differs from the correct one (or is not finite)."""
    good = flat_gradient(family.correct, family.params, family.data)
    with np.errstate(all="ignore"):
        bad = flat_gradient(family.buggy, family.params, family.data)
        off = ~(np.abs(bad - good) <= 1e-9 * np.maximum(1.0, np.abs(good)))
    names = [c for k, v in family.params.items() for c in component_names(k, np.shape(v))]
    return {names[i] for i in np.flatnonzero(off)}


def named(message: str) -> str:
    """The component a row's message names first (``W[0,1]`` in ``W[0,1]: ...``, the worst one
    when it counts several; the first of a pair in ``along W[0,1] + W[0,2]: ...``), or ``""``."""
    text = message.removeprefix("along ")
    if "the worst: " in text:  # "3 of 4 gradient components are off (...), the worst: w[1]: ..."
        text = text.split("the worst: ", 1)[1]
    elif "; the first: " in text:  # "2 of 5 gradient components are not finite; the first: ..."
        text = text.split("; the first: ", 1)[1]
    head = text.split(":", 1)[0].split(" ")[0]
    return head if head and head != "loss" else ("loss" if head == "loss" else "")
