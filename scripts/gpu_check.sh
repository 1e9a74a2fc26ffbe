#!/usr/bin/env bash
# The checks that need a CUDA GPU, in one go, most wanted first (a lease may end part-way):
#   the pipeline benchmark on CUDA (it rewrites bench_cuda.json as each stage ends), the CUDA
#   tests (tests/test_gpu.py, skipped without a GPU) and the inference tests, then the network
#   speed table on CUDA and on the machine's CPU, then the benchmark on an archive of stills.
#   About 6-7 minutes on an H200 (16 cores) before the stills benchmark.
#   bench_cuda.json's d_timing_s says where the full run's main thread spent its time, and
#   d_workers_4 / d_workers_16 the same run with 4 and 16 workers (8 otherwise).
# Usage, on a GPU machine with the project importable:  bash scripts/gpu_check.sh OUTDIR
# (PYTHON=python3 to pick the interpreter; default python)
set -u -o pipefail
out=${1:?usage: scripts/gpu_check.sh OUTDIR}
py=${PYTHON:-python}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
{
    nvidia-smi -L
    nproc
    $py -c "import torch, monai; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'monai', monai.__version__, torch.cuda.get_device_name(0))"
} 2>&1 | tee "$out/machine.txt"
# the archive (32 cine files x 30 frames) is written single-threaded before anything is timed
# (d_workers_4 and d_workers_16: the full run again with fewer and more workers)
$py scripts/bench.py --files 32 --small-files 3 --frames 30 --batch-size 32 --workers 8 --workers-sweep 4 16 \
    --model-frames 480 --device cuda --work "${TMPDIR:-/tmp}/follicle_gpu_bench" --json "$out/bench_cuda.json" 2>&1 | tee "$out/bench.txt"
$py -m pytest -q -p no:cacheprovider -rs tests/test_gpu.py tests/test_model_infer.py 2>&1 | tee "$out/pytest.txt"
$py scripts/compare_networks.py --speed-only --device cuda --json "$out/speed_cuda.json"
$py scripts/compare_networks.py --speed-only --device cpu --json "$out/speed_cpu.json"
# an archive of stills (the same kind of sweeps, one file per frame): do pooled stills keep the GPU busy?
$py scripts/bench.py --files 16 --small-files 3 --frames 30 --stills --batch-size 32 --workers 8 \
    --model-frames 480 --device cuda --work "${TMPDIR:-/tmp}/follicle_gpu_bench_stills" --json "$out/bench_cuda_stills.json" 2>&1 | tee "$out/bench_stills.txt"
