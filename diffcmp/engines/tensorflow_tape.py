"""``tensorflow``: the loss built from TensorFlow ops (:mod:`diffcmp.ops.tensorflow`), its
gradient by ``tf.GradientTape`` inside a ``tf.function``, float64.

An :class:`~diffcmp.engines.optable.OpTableEngine`. TensorFlow comes with the extra
``diffcmp[tensorflow]`` (or ``diffcmp[engines]``): this module imports it through
:func:`~diffcmp.engines.optional.require` on first use, so where it is missing every case is
``unsupported`` with the command that installs it.

The gradient (and the loss, on its first timed call) is a ``tf.function`` with a fixed input
signature, the params' float64 shapes, traced ahead of its calls (the preparation step
``trace``; TensorFlow optimises the graph on its first call, the step ``first call``). The
Hessian is the ``jacobian`` of the gradient (reverse over reverse), the Hessian-vector product
the gradient of ``grad . v``, each a ``tf.function`` of the flat parameters.

Each case traces new functions: TensorFlow's Python warnings of retracing are silenced while
the engine runs. Before TensorFlow is imported, its C++ log level is set to 2 (errors only)
and its oneDNN kernels are turned off (the engine computes in float64, which they do not
cover; their notice is printed before the log level is read), unless the environment sets
``TF_CPP_MIN_LOG_LEVEL`` or ``TF_ENABLE_ONEDNN_OPTS`` itself. TensorFlow runs on ``threads``
intra-op and inter-op threads (the run's ``--threads``), set before its runtime starts, once
per process: where the runtime has started already (in a process that used TensorFlow
before), its own setting stays.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..errors import UnsupportedError
from .optable import OpTableEngine
from .optional import OptionalOps, require

#: The thread count TensorFlow was given in this process (set once: its runtime keeps it).
_THREADS: list[int] = []


def _tensorflow(threads: int | None = None) -> Any:
    """TensorFlow, imported quietly, on ``threads`` threads where given (the first time)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    tf = require("tensorflow", "tensorflow")
    if threads is not None and not _THREADS:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # its runtime started before: its thread pools stay as they are
            pass
        _THREADS.append(threads)
    return tf


class TensorflowEngine(OpTableEngine):
    """TensorFlow's GradientTape in a traced ``tf.function``, float64 tensors."""

    name = "tensorflow"
    OPS = OptionalOps("diffcmp.ops.tensorflow", "tensorflow", "tensorflow")

    @classmethod
    def start(cls) -> None:
        """Import TensorFlow and its op table as the worker starts, not during the first case
        (nothing where it is missing: each case says so)."""
        try:
            _tensorflow()
            cls.OPS.load()
        except UnsupportedError:
            pass

    @contextmanager
    def running(self) -> Iterator[None]:
        """TensorFlow's Python warnings off (each case traces new functions of the same code,
        which it would warn of as retracing), the caller's level restored after."""
        logger = logging.getLogger("tensorflow")
        before = logger.level
        logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            logger.setLevel(before)

    def array(self, values: np.ndarray) -> Any:
        """A float64 tensor of ``values``."""
        tf = _tensorflow(self.threads)
        return tf.constant(values, dtype=tf.float64)

    def value_and_grad(self, loss: Callable[[tuple[Any, ...]], Any]) -> Callable[
            [tuple[Any, ...]], tuple[Any, Sequence[Any]]]:
        """The loss and ``tape.gradient`` of it (zeros for a param it does not use)."""
        tf = _tensorflow(self.threads)

        def value_and_grad(params: tuple[Any, ...]) -> tuple[Any, Sequence[Any]]:
            with tf.GradientTape() as tape:
                tape.watch(params)
                value = loss(params)
            grads = tape.gradient(value, params,
                                  unconnected_gradients=tf.UnconnectedGradients.ZERO)
            return value, [tf.convert_to_tensor(g) for g in grads]  # IndexedSlices of a gather

        return value_and_grad

    def trace(self, function: Callable[[tuple[Any, ...]], Any],
              example: tuple[Any, ...]) -> Callable[[tuple[Any, ...]], Any]:
        """A ``tf.function`` of ``function`` for float64 params of ``example``'s shapes,
        traced now."""
        tf = _tensorflow(self.threads)
        signature = [tuple(tf.TensorSpec(p.shape, tf.float64) for p in example)]
        traced = tf.function(function, input_signature=signature)
        traced.get_concrete_function()
        return traced

    def to_numpy(self, value: Any) -> np.ndarray:
        """A tensor's values."""
        return np.asarray(value.numpy(), dtype=np.float64)

    def hessian(self, loss: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """The ``jacobian`` of the gradient (two nested tapes), traced on its first call."""
        tf = _tensorflow(self.threads)
        zero = tf.UnconnectedGradients.ZERO

        def hessian(x: Any) -> Any:
            with tf.GradientTape() as outer:
                outer.watch(x)
                gradient = _taped_gradient(tf, loss, x)
            return outer.jacobian(gradient, x, unconnected_gradients=zero)

        return tf.function(hessian, input_signature=[tf.TensorSpec([None], tf.float64)])

    def hvp(self, loss: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
        """The gradient of ``grad(loss)(x) . v`` (two nested tapes), traced on its first
        call."""
        tf = _tensorflow(self.threads)
        zero = tf.UnconnectedGradients.ZERO

        def hvp(x: Any, v: Any) -> Any:
            with tf.GradientTape() as outer:
                outer.watch(x)
                along = tf.reduce_sum(_taped_gradient(tf, loss, x) * v)
            return tf.convert_to_tensor(outer.gradient(along, x, unconnected_gradients=zero))

        spec = tf.TensorSpec([None], tf.float64)
        return tf.function(hvp, input_signature=[spec, spec])


def _taped_gradient(tf: Any, loss: Callable[[Any], Any], x: Any) -> Any:
    """The gradient of ``loss`` at ``x`` on a tape of its own, itself recorded by any tape that
    watches ``x`` around it (second order: nested tapes); zero where ``loss`` ignores ``x``."""
    with tf.GradientTape() as inner:
        inner.watch(x)
        value = loss(x)
    return tf.convert_to_tensor(inner.gradient(value, x,
                                               unconnected_gradients=tf.UnconnectedGradients.ZERO))
