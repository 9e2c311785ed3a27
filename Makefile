# The two quick-start commands: `make run` and `make test`. Each sets itself up first (idempotently).
.PHONY: setup run test lint bench

setup:
	@bash scripts/setup.sh

run: setup
	.venv/bin/vaegan run --data emoji --preset quick --out runs/emoji

test: setup
	.venv/bin/python -m pytest

lint: setup
	.venv/bin/ruff check src tests benchmarks
	.venv/bin/mypy

bench: setup
	.venv/bin/python benchmarks/throughput.py
