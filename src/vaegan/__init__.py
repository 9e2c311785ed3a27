"""vaegan: train a convolutional VAE on your images, then a GAN warm-started from its decoder."""

__version__ = "0.1.0"
