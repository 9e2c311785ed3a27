#!/usr/bin/env bash
# What a lent GPU machine runs for docs/PERFORMANCE.md's CUDA section, in one go: vaegan's CUDA tests,
# the throughput benchmark on the GPU, the quick preset's two stages through the CLI on emoji, and both
# stages launched by torchrun (one process: vaegan joins no process group then, so this checks the launch,
# not DistributedDataParallel or nccl, which need two GPUs).
#
# The GPU machine has torch but neither the emoji package nor the data, so first, here:
#   python benchmarks/throughput.py --save-arrays devdata      # 4,096 images per setup, 15 MiB
#   pip download --no-deps -d .whl emoji==2.16.0               # vaegan.data imports it
# then there, from the repository root (with devdata and .whl carried): bash benchmarks/gpu_check.sh
# Everything it prints and the runs' last grids land in $OUT (or /tmp/gpu-check).
set -uo pipefail
out=${OUT:-/tmp/gpu-check}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
export PYTHONUNBUFFERED=1 CI=true PYTHONPATH=src:/tmp/site
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"

python3 -m pytest -p no:cacheprovider tests/training/test_cuda.py tests/training/test_speed.py 2>&1 |
    tee "$out/pytest.txt"

# The run's record: bring $out/<record>.json back to docs/results/performance/, then
# `python benchmarks/report.py --performance` rebuilds docs/PERFORMANCE.md.
record=${RECORD:-h200}
python3 benchmarks/throughput.py --device cuda --arrays devdata --check-steps 0 --threads 8 --record "$record" 2>&1 |
    tee "$out/throughput.txt"
cp "docs/results/performance/$record.json" "$out/" || true

# The quick preset end to end on the GPU: the emoji arrays as a folder of PNGs, as a user's own data.
python3 - <<'EOF'
from pathlib import Path

import numpy as np
from PIL import Image

folder = Path("/tmp/emoji_png")
folder.mkdir(exist_ok=True)
for i, image in enumerate(np.load("devdata/emoji.npz")["images"]):
    Image.fromarray(image.transpose(1, 2, 0)).save(folder / f"{i:05d}.png")
EOF
{
    for stage in vae gan; do
        if [ $stage = vae ]; then source=(--data /tmp/emoji_png); else source=(--vae /tmp/gpu-vae); fi
        started=$(date +%s%N)
        python3 -m vaegan "train-$stage" "${source[@]}" --preset quick --device cuda -o "/tmp/gpu-$stage" 2>&1 |
            grep -E "cached in|epoch (1|24|9)/|checkpoint:"
        echo "train-$stage --preset quick --device cuda: $((($(date +%s%N) - started) / 1000000)) ms"
        cp "$(ls /tmp/gpu-$stage/grids/samples_e*.png | tail -1)" "$out/$stage-samples.png"
    done
} 2>&1 | tee "$out/cli.txt"

# One process under torchrun on the GPU: torchrun's launch and environment only (at world size 1 vaegan
# joins no process group, so neither DDP nor nccl runs; that needs a machine with two GPUs).
{
    torchrun --standalone --nproc_per_node=1 -m vaegan train-vae --data /tmp/emoji_png --epochs 3 --device cuda \
        -o /tmp/ddp-vae 2>&1 | grep -E "epoch 3/|checkpoint:|rror"
    torchrun --standalone --nproc_per_node=1 -m vaegan train-gan --vae /tmp/ddp-vae --gan-epochs 2 --device cuda \
        -o /tmp/ddp-gan 2>&1 | grep -E "epoch 2/|checkpoint:|rror"
} 2>&1 | tee "$out/torchrun.txt"
