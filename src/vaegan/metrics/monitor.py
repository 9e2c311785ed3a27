"""Transitional: training/loop.py, train_vae.py and train_gan.py import QualityMonitor from here until
they import it from vaegan.training.feature_net, where it lives; delete this file then (tests/test_layers.py)."""

from vaegan.training.feature_net import QualityMonitor

__all__ = ["QualityMonitor"]
