# The two quick-start commands: `make run` and `make test`. Each sets itself up first (idempotently).
.PHONY: setup run test lint bench quality own-features

setup:
	@bash scripts/setup.sh

run: setup
	.venv/bin/vaegan run --data emoji --preset quick --out runs/emoji

test: setup
	.venv/bin/python -m pytest

lint: setup
	.venv/bin/ruff check src tests benchmarks
	.venv/bin/ruff format --check src tests benchmarks
	.venv/bin/mypy

bench: setup
	.venv/bin/python benchmarks/throughput.py

# docs/RESULTS.md: the equal wall-clock race in Inception FID (docs/FID.md), 10 min per variant, 3 seeds.
# At the protocol's 10,000 samples each FID embedding takes ~15 min on 2 CPU cores: hours here, minutes on
# a GPU. For a quick look: .venv/bin/python benchmarks/quality.py --minutes 2 --samples 500 --real 500 --seeds 1
quality: setup
	.venv/bin/python benchmarks/quality.py --data fashion-mnist
	.venv/bin/python benchmarks/quality.py --data emoji

# docs/OWN_FEATURES.md: every model and loss in vaegan's own feature space (~8 min, then ~1 h for emoji).
own-features: setup
	.venv/bin/python benchmarks/own_features.py --data fashion-mnist
	.venv/bin/python benchmarks/own_features.py --data emoji
