#!/usr/bin/env bash
# Every GPU check stride owes, as one prepared run for a lent device machine (one H100/H200, 10 minutes a command).
#
#   here:   ./dev gpu-wheels      # the pure-Python wheels the device image lacks (tensordict, rsl-rl-lib, gymnasium
#                                 # and their small dependencies) into .whl/ (git-ignored), for CPython 3.12
#   there:  the device tool's run, carry [".whl"], timeout_s 590:   bash benchmarks/gpu_session.sh
#
# Steps, each under its own time budget so one hang cannot take the rest (the budgets add up to 520 s):
#   1. pytest -m gpu over the files that hold gpu tests: sync-free rollout and mini-batch loop, compiled = eager on
#      CUDA, the built-in tasks' episode statistics, the env guard under set_sync_debug_mode("error"), ...
#   2. benchmarks/guard_cost.py at 4,096 envs: the deferred guard's cost (the reliability plan's <= 3 % figure)
#   3. benchmarks/compare_rsl_rl.py at 4,096 envs, stride eager, compiled, then with algorithm.cuda_graphs (captured
#      act step and update: graphed vs eager iteration time), each against rsl_rl 5.5.1
#   4. benchmarks/off_policy_update_speed.py: SAC / TD3 gradient steps per second, eager vs algorithm.cuda_graphs
#      (captured gradient step), batch 4,096 (NUM_ENVS), [256, 256]
# Logs and a summary go to $OUT (what the device tool brings back: 8 files at most). A dry run of the mechanics
# on the CPU: DEVICE=cpu NUM_ENVS=256 OUT=/tmp/gpu-dry bash benchmarks/gpu_session.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/stride-gpu}"
DEVICE="${DEVICE:-cuda}"
NUM_ENVS="${NUM_ENVS:-4096}"
PY="${PY:-python3}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if [ -d .whl ]; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "wheel install failed" | tee "$OUT/summary.txt"; exit 1; }
  export PYTHONPATH="/tmp/site:$PWD"
else
  export PYTHONPATH="$PWD"
fi

{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null || echo "no nvidia-smi"
  "$PY" -c "import torch, tensordict; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'tensordict', tensordict.__version__)"
} >"$OUT/summary.txt" 2>&1

step() {
  local name=$1 budget=$2
  shift 2
  local start=$SECONDS rc
  timeout "$budget" "$@" >"$OUT/$name.log" 2>&1
  rc=$?
  echo "$name: exit $rc after $((SECONDS - start)) s (budget $budget s)" | tee -a "$OUT/summary.txt"
  tail -n 4 "$OUT/$name.log" | tee -a "$OUT/summary.txt"
}

mapfile -t GPU_TEST_FILES < <(grep -rl --include='test_*.py' "mark.gpu" tests | sort)
step pytest_gpu 200 "$PY" -m pytest -m gpu -q -p no:cacheprovider -o addopts="-ra --import-mode=importlib" \
  "${GPU_TEST_FILES[@]}"
step guard_cost 50 "$PY" benchmarks/guard_cost.py --num-envs "$NUM_ENVS" --device "$DEVICE" --rounds 7
COMPARE=(benchmarks/compare_rsl_rl.py --task cartpole --num-envs "$NUM_ENVS" --steps 24 --hidden 256 256
  --device "$DEVICE" --rounds 5 --block 3 --skip-solve)
step compare_eager 55 "$PY" "${COMPARE[@]}"
step compare_compile 120 "$PY" "${COMPARE[@]}" --warmup 3 --stride-compile default
step compare_graphs 65 "$PY" "${COMPARE[@]}" --warmup 4 --stride-cuda-graphs
step offpolicy_graphs 30 "$PY" benchmarks/off_policy_update_speed.py --device "$DEVICE" --algos SAC TD3 \
  --batch "$NUM_ENVS" --settings eager graphs --steps 16 --warmup 2 --rounds 5
