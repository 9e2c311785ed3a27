# The two quick-start commands: `make run` and `make test`. Each sets itself up first (idempotently).
.PHONY: setup run test lint bench quality

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

# docs/RESULTS.md: every model on Fashion-MNIST (~8 min here), then on emoji (~1 h), 3 seeds each.
quality: setup
	.venv/bin/python benchmarks/quality.py --data fashion-mnist
	.venv/bin/python benchmarks/quality.py --data emoji
