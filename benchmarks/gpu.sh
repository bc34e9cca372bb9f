#!/usr/bin/env bash
# The GPU measurements of docs/benchmarks.md, in one go, on a machine with an NVIDIA GPU:
#   bash benchmarks/gpu.sh OUT_DIR        (python: $PYTHON, default .venv/bin/python)
# 1. the torch env tests on CUDA (statistical equality with the numpy envs, seeding), 2. env stepping on the GPU
# at 4,096 .. 4M sub-envs beside the numpy envs, 3. PPO training throughput with the Pricing env stepping on the
# GPU (backend torch) at several num_envs, and the CPU reference (numpy env, 8 envs) on the same machine,
# 4. the click model's torch solver on CUDA (tests, then fit time at 1M rows against the CPU solvers).
set -u
out=${1:?usage: bash benchmarks/gpu.sh OUT_DIR}
py=${PYTHON:-.venv/bin/python}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$out/gpu.csv" 2>&1
$py -c "import torch, platform; print(torch.__version__, torch.cuda.get_device_name(), platform.python_version())" \
    | tee "$out/versions.txt"
$py -m pytest tests/envs/test_torch_envs.py tests/agents/test_train_run.py -k "cuda or torch" -q -p no:cacheprovider \
    2>&1 | tail -15 | tee "$out/tests.txt"
$py -m benchmarks.bench_torch_env --device cuda --num-envs 4096 65536 1048576 4194304 > "$out/torch_env.json" \
    2> "$out/torch_env.txt"
$py -m benchmarks.bench_train_speed --backend torch --device cuda --n-envs 256 1024 4096 --n-steps 32 \
    --batch-size 8192 --steps 1000000 > "$out/train_gpu.json" 2> "$out/train_gpu.err"
$py -m benchmarks.bench_train_speed --steps 100000 > "$out/train_cpu.json" 2> "$out/train_cpu.err"
$py -m pytest tests/envs/test_models_click_torch.py -k "not obd" -q -p no:cacheprovider 2>&1 | tail -3 \
    | tee "$out/click_tests.txt"
$py -m benchmarks.bench_click_fit --rows 1000000 --items 100 300 1000 3000 --devices cpu cuda \
    --fisher-max-features 2000 --plot "$out/click_fit.png" > "$out/click_fit.json" 2> "$out/click_fit.err"
tail -n 30 "$out/torch_env.txt"
grep -E '"(value|n_envs|device|backend)"' "$out/train_gpu.json" "$out/train_cpu.json"
