#!/usr/bin/env bash
# The checks that need a CUDA GPU, in one go (the tests and speed tables took 2 minutes on an H200):
#   the CUDA tests (tests/test_gpu.py, skipped without a GPU) and the inference tests,
#   the network speed table on CUDA and on the machine's CPU, and the pipeline benchmark on CUDA.
# Usage, on a GPU machine with the project installed:  bash scripts/gpu_check.sh OUTDIR
set -u -o pipefail
out=${1:?usage: scripts/gpu_check.sh OUTDIR}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
{
    nvidia-smi -L
    nproc
    python -c "import torch, monai; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'monai', monai.__version__, torch.cuda.get_device_name(0))"
} 2>&1 | tee "$out/machine.txt"
python -m pytest -q -p no:cacheprovider -rs tests/test_gpu.py tests/test_model_infer.py 2>&1 | tee "$out/pytest.txt"
python scripts/compare_networks.py --speed-only --device cuda --json "$out/speed_cuda.json"
python scripts/compare_networks.py --speed-only --device cpu --json "$out/speed_cpu.json"
# the bench writes its synthetic archive first (single-threaded), then rewrites bench_cuda.json as each
# stage ends, so a run cut short by the lease keeps the stages it finished
python scripts/bench.py --files 8 --small-files 3 --frames 30 --batch-size 32 --workers 8 \
    --model-frames 240 --device cuda --work "${TMPDIR:-/tmp}/follicle_gpu_bench" --json "$out/bench_cuda.json"
