# The two quick-start commands: `make run` and `make test`. Each sets itself up first (idempotently).
.PHONY: setup run test lint bench report curve own-features levers

setup:
	@bash scripts/setup.sh

run: setup
	.venv/bin/vaegan run --data emoji --preset quick --out runs/emoji

# One test process per core (conftest gives each one torch thread); a file's tests share a process and its fixtures.
test: setup
	.venv/bin/python -m pytest -n auto --dist loadfile

lint: setup
	.venv/bin/ruff check src tests benchmarks
	.venv/bin/ruff format --check src tests benchmarks
	.venv/bin/mypy

# docs/PERFORMANCE.md: throughput against the tutorial loop (~10 min). Name the machine kind's record to keep
# the run: make bench RECORD=epyc-f26-avx512bf16 (docs/results/performance/RECORD.json), then make report.
bench: setup
	.venv/bin/python benchmarks/throughput.py $(if $(RECORD),--record $(RECORD))

# docs/RESULTS.md and docs/PERFORMANCE.md from the records under docs/results/ (seconds; a test checks it was run).
report: setup
	.venv/bin/python benchmarks/report.py

# docs/RESULTS.md's curve by step budget (issue 67): each point trained here, one after the other (hours on 2
# cores), then scored by the protocol. On a lent GPU instead: `bash benchmarks/gpu_check.sh curve` (its header),
# then .venv/bin/python benchmarks/curve.py score --packed OUT here. The budgets: benchmarks/curve.py plan.
curve: setup
	.venv/bin/python benchmarks/curve.py train --all
	.venv/bin/python benchmarks/curve.py score

# docs/RESULTS.md's own-feature section: every model and loss in vaegan's own feature space (~8 min, then
# ~1 h for emoji).
own-features: setup
	.venv/bin/python benchmarks/own_features.py --data fashion-mnist
	.venv/bin/python benchmarks/own_features.py --data emoji

# docs/results/levers/: the emoji levers at the default budget (Inception FID of 1,000 samples; ~1 h). A round
# of the table reruns by the command in its JSON.
levers: setup
	.venv/bin/python benchmarks/levers.py --data emoji --vae-steps 1500 --gan-steps 600 --inception 1000
