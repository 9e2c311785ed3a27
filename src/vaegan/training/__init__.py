"""One explicit training loop per stage: train_vae.py and train_gan.py, with a few shared helpers."""
