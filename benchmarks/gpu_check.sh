#!/usr/bin/env bash
# The device checks of issue 21, for a machine with an NVIDIA GPU: run from the repository root
# (nothing installed: PYTHONPATH=.), results under $OUT (default /tmp/gpu-check).
#
#   1. what the frameworks see: torch.cuda and jax.devices("gpu");
#   2. the built-in suite on the GPU, float64 and float32 (timed briefly: --min-time 0.02),
#      which must pass as it does on the CPU (exit 0);
#   3. a couple of timing figures: the torch and jax gradients of the logistic-regression sweep at
#      n = 1,000 and 100,000, float64 and float32, on the CPU and on the GPU, side by side.
#
# Usage: OUT=/some/dir bash benchmarks/gpu_check.sh   (about 3 to 6 minutes on an H200 node)
set -euo pipefail
OUT="${OUT:-/tmp/gpu-check}"
MIN_TIME="${MIN_TIME:-0.02}"
export PYTHONPATH=.
mkdir -p "$OUT"

echo "== devices"
nvidia-smi -L || true
python - <<'PY'
import torch
print("torch", torch.__version__, "cuda available:", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
import jax
try:
    print("jax", jax.__version__, "gpu devices:", jax.devices("gpu"))
except RuntimeError as exc:
    print("jax", jax.__version__, "no GPU:", exc)
PY

echo "== the built-in suite on cuda, float64 and float32"
start=$(date +%s)
status=0
timeout 420 python -m diffcmp run cases/ --device cuda --dtype float64,float32 \
    --min-time "$MIN_TIME" --out "$OUT/gpu" --force --quiet || status=$?
echo "exit $status after $(( $(date +%s) - start )) s; report: $OUT/gpu/report.md"
python - "$OUT/gpu" <<'PY'
import sys
import pandas as pd
out = sys.argv[1]
agreement = pd.read_csv(f"{out}/agreement.csv")
gradient = agreement[agreement["derivative"] == "gradient"]
print(gradient.groupby("engine")["status"].value_counts().unstack(fill_value=0).to_string())
timing = pd.read_csv(f"{out}/timing.csv")
print("devices in timing.csv:", timing.groupby("engine")["device"].first().to_dict())
PY

echo "== timing figures: grad of the logistic-regression sweep, cpu against cuda"
for device in cpu cuda; do
    timeout 300 python -m diffcmp sweep cases/sweeps/logistic_regression.toml --sizes 1000,100000 \
        --engines torch,jax --dtype float64,float32 --device "$device" --min-time 0.1 \
        --out "$OUT/sweep-$device" --force --quiet || echo "sweep on $device: exit $?"
done
python - "$OUT" <<'PY'
import sys
import pandas as pd
out = sys.argv[1]
rows = []
for device in ("cpu", "cuda"):
    try:
        sweep = pd.read_csv(f"{out}/sweep-{device}/sweep.csv")
    except FileNotFoundError:
        continue
    grad = sweep[(sweep["phase"] == "grad") & (sweep["engine"] != "reference")]
    rows += [{"device": device, "engine": r.engine, "n": r.size, "grad_us": r.median_s * 1e6,
              "status": r.status} for r in grad.itertuples()]
table = pd.DataFrame(rows)
if not table.empty:
    print(table.pivot_table(index=["engine", "n"], columns="device", values="grad_us")
          .round(1).to_string())
PY
exit "$status"
