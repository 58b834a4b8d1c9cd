"""A small GradBench tool in NumPy, for tests/test_gradbench_protocol.py: it speaks GradBench's
protocol (CONTRIBUTING.md, "Protocol") and answers lse, llsq, det and kmeans with their exact
formulas (softmax; the normal equations' residual; det(A) inv(A).T; each centroid minus the mean
of its points).

``python right_tool.py [MODE[:EVAL]]``: MODE ``right`` (the default) answers right; the others
misbehave, on EVAL only when one is named (and answer right elsewhere):

* ``wrong``: 1% off on one component of each eval's derivative (:data:`WRONG`);
* ``crash``: exits on evaluate (as GradBench's own tools do on an unknown function);
* ``hang``: never answers evaluate;
* ``wrong-id``: answers evaluate with the next message's id;
* ``malformed``: answers evaluate with a line that is not JSON;
* ``wrong-shape``: answers the derivative with one value too few;
* ``fail``: answers evaluate with ``success: false``;
* ``refuse``: answers define with ``success: false``.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

#: The component each eval's derivative is 1% off at in ``wrong`` mode (flat, row-major):
#: lse's is a softmax component of about 4.8e-4, which GradBench's rule cannot see.
WRONG = {"lse": 0, "llsq": 3, "det": 7, "kmeans": 21}


def lse(x: np.ndarray) -> tuple[float, np.ndarray]:
    top = np.max(x)
    e = np.exp(x - top)
    return float(top + np.log(np.sum(e))), e / np.sum(e)


def llsq(x: np.ndarray, n: int) -> tuple[float, np.ndarray]:
    t = np.array([-1 + i * 2 / (n - 1) for i in range(n)])
    powers = np.cumprod(np.column_stack([np.ones(n)] + [t] * (len(x) - 1)), axis=1)
    residual = np.sign(t) - powers @ x
    return float(0.5 * residual @ residual), -(powers.T @ residual)


def det(a: np.ndarray, ell: int) -> tuple[float, np.ndarray]:
    matrix = a.reshape(ell, ell)
    value = float(np.linalg.det(matrix))
    return value, (value * np.linalg.inv(matrix).T).ravel()


def kmeans(points: np.ndarray, centroids: np.ndarray) -> tuple[float, np.ndarray]:
    distances = ((points[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
    nearest = np.argmin(distances, axis=1)
    direction = np.array([centroids[j] - points[nearest == j].mean(axis=0)
                          for j in range(len(centroids))])
    return float(distances.min(axis=1).sum()), direction


def answer(module: str, function: str, data: dict) -> tuple[object, str]:
    """The value (a number) or derivative (a list) ``function`` asks for, and its shape."""
    if module == "lse":
        value, derivative = lse(np.array(data["x"], dtype=float))
    elif module == "llsq":
        value, derivative = llsq(np.array(data["x"], dtype=float), int(data["n"]))
    elif module == "det":
        value, derivative = det(np.array(data["A"], dtype=float), int(data["ell"]))
    else:
        value, derivative = kmeans(np.array(data["points"], dtype=float),
                                   np.array(data["centroids"], dtype=float))
    if function in ("primal", "cost"):
        return value, "value"
    return derivative, "derivative"


def main(mode: str = "right") -> None:
    kind, _, only = mode.partition(":")
    current = ""
    for line in sys.stdin:
        message = json.loads(line)
        response: dict = {"id": message["id"]}
        acting = kind != "right" and (not only or only == current)
        if message["kind"] == "start":
            current = message.get("eval", "")
            response["tool"] = "numpy-test"
        elif message["kind"] == "define":
            current = message["module"]
            response["success"] = not (kind == "refuse" and (not only or only == current))
        elif message["kind"] == "evaluate":
            if acting and kind == "crash":
                sys.exit(f"unknown function {message['function']}")
            if acting and kind == "hang":
                time.sleep(3600)
            if acting and kind == "malformed":
                print("{not json", flush=True)
                continue
            if acting and kind == "fail":
                response.update(success=False, error="not implemented here")
                print(json.dumps(response), flush=True)
                continue
            data = message["input"]
            runs, total = [], 0.0
            while len(runs) < data["min_runs"] or total < data["min_seconds"]:
                start = time.perf_counter_ns()
                output, what = answer(message["module"], message["function"], data)
                runs.append(time.perf_counter_ns() - start)
                total += runs[-1] / 1e9
            if what == "derivative":
                flat = np.array(output, dtype=float).ravel()
                if acting and kind == "wrong":
                    flat[WRONG[message["module"]]] *= 1.01
                if acting and kind == "wrong-shape":
                    flat = flat[:-1]
                output = flat.reshape(np.shape(output)).tolist() if len(flat) == np.size(
                    output) else flat.tolist()
            response.update(success=True, output=output,
                            timings=[{"name": "evaluate", "nanoseconds": ns} for ns in runs])
            if acting and kind == "wrong-id":
                response["id"] = message["id"] + 1
        print(json.dumps(response), flush=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "right")
