#!/usr/bin/env bash
# The accelerator figures of docs/performance.md in one command, each benchmark's table also written to a file:
#
#   bench/gpu.sh [OUT]              # OUT: where the tables go (default gpu-figures/)
#
# The go-to search alone, training throughput (the reference configuration and the recipe) and frames to 0.9 on
# SimpleDoorKey, at the sizes docs/performance.md reports for a GPU; with several devices also the scaling over them.
# PYTHON picks the interpreter (default .venv/bin/python); SIZES the environment counts of the throughput rows
# (default "1024 4096 16384"); EFFICIENCY_SIZES those of frames to 0.9 (default "64 256 1024 4096"); ONLY
# some of the tables, by name (default "go_to_search train_reference train_recipe sample_efficiency scaling").
# Stops at the first benchmark that fails (its output left in OUT/NAME.md.part); never writes over a table
# already in OUT.
set -euo pipefail
out=${1:-gpu-figures}
case $out in  # relative to where it is called from
  /*) ;;
  .) out=$PWD ;;
  *) out="$PWD/${out#./}" ;;
esac
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python=${PYTHON:-.venv/bin/python}
read -r -a sizes <<<"${SIZES:-1024 4096 16384}"
read -r -a efficiency_sizes <<<"${EFFICIENCY_SIZES:-64 256 1024 4096}"
tables=" go_to_search train_reference train_recipe sample_efficiency scaling "
only=" ${ONLY:-$tables} "
for name in $only; do  # and never over an earlier run's table: a folder is added to, table by table (ONLY)
  [[ $tables == *" $name "* ]] || { echo "bench/gpu.sh: ONLY names no table '$name'; the tables:$tables" >&2; exit 2; }
  [ ! -e "$out/$name.md" ] || { echo "bench/gpu.sh: $out/$name.md is there from an earlier run; give another OUT," \
    "or ONLY the tables it lacks" >&2; exit 2; }
done
mkdir -p "$out"
export PYTHONUNBUFFERED=1

measure() {  # measure NAME MODULE ARGS...: runs `python -m MODULE ARGS...`, its output also to OUT/NAME.md
  local name=$1  # (written as NAME.md.part, renamed once the benchmark has succeeded)
  shift
  [[ $only == *" $name "* ]] || return 0
  local part="$out/$name.md.part" start=$SECONDS
  echo "== python -m $*" | tee "$part"
  "$python" -m "$@" 2>&1 | tee -a "$part"
  echo "(${name}: $((SECONDS - start)) s)" | tee -a "$part"
  mv "$part" "$out/$name.md"
}

measure go_to_search bench.go_to_search --sizes "${sizes[@]}"
measure train_reference bench.train_throughput --num-envs "${sizes[@]}" \
  --train.num-steps 16 --train.ppo.update-epochs 4 --train.ppo.num-minibatches 4
measure train_recipe bench.train_throughput --num-envs "${sizes[@]}" --train.updates-per-chunk 20
measure sample_efficiency bench.sample_efficiency --methods llm4teach --num-envs "${efficiency_sizes[@]}" \
  --max-frames 102400 --eval-frames 4096
if [[ $only == *" scaling "* ]]; then  # (asking JAX for the devices starts its backend: only if needed)
  devices=$("$python" -c "import jax; print(jax.device_count())")
  if [ "$devices" -gt 1 ]; then
    counts=() && for ((n = 1; n <= devices; n *= 2)); do counts+=("$n"); done
    measure scaling bench.scaling --devices "${counts[@]}" --num-envs 4096
  else
    echo "(scaling: one device here, nothing to scale over)"
  fi
fi
echo "tables in $out/"
