"""Metrics, pure over tensors and nets: likelihood bounds (likelihood.py), FID/KID/precision-recall/
density-coverage (quality.py) in vaegan's own feature net (features.py) or Inception-V3 from a local file
(inception.py, inception_fid.py), mode coverage (coverage.py), PSNR (psnr.py), checkerboard artifacts
(artifacts.py), holes, specks and blocks (defects.py).

The feature net is trained in training/feature_net.py, which also measures quality while a stage trains;
a run folder's offline report is vaegan.evaluate. Nothing is imported here, so `import vaegan.metrics`
stays cheap.
"""
