"""Networks: the VAE (encoder, decoder, posterior) and the GAN discriminators."""
