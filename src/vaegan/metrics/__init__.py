"""Offline evaluation: likelihood bounds (likelihood.py), a self-trained feature net (features.py),
FID/KID/precision-recall/density-coverage (quality.py), mode coverage (coverage.py), Inception-V3 from a
local file (inception.py), and a run folder's full report (evaluation.py).

The training loops measure quality through monitor.QualityMonitor; evaluation.evaluate_run and the
benchmarks call quality.py directly. Nothing is imported here, so `import vaegan.metrics` stays cheap.
"""
