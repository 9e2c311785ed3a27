"""Issue 67's curve points once curve.py has planned them: trained as jobs (jobs.py), packed to travel from a
lent GPU (pack.py) and scored here by docs/FID.md's protocol (score.py)."""
