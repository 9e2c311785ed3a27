"""Offline evaluation: likelihood bounds (likelihood.py), a self-trained feature net (features.py),
FID/KID/precision-recall/density-coverage (quality.py), mode coverage (coverage.py), Inception-V3 from a
local file (inception.py), and a run folder's full report (evaluation.py).

Training loops call `vaegan.metrics.quality.quality_metrics` at an interval; nothing is imported here so
`import vaegan.metrics` stays cheap.
"""
