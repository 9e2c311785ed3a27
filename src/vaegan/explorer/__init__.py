"""Latent-space explorer: a local web page over a trained run (`vaegan explore RUN`).

Sliders move the most active latent dimensions and the page decodes on every move; it can draw random
z, encode held-out images to their posterior means, and interpolate between two latents. The server is
the standard library's ThreadingHTTPServer bound to 127.0.0.1; the page is plain HTML/JS/CSS in static/.

JSON API (errors: HTTP 400 {"error": message} for bad input, 404 for unknown paths, never a traceback):
    GET  /api/info              {run, latent_dim, stages, stage, active_dims (8 dims, highest KL first),
                                 kl (nats per dim), active_threshold, image_size, channels, dataset_size,
                                 dataset}
    POST /api/decode            {z: [latent_dim numbers], stage?: "vae"|"gan"} -> image/png, the decoded z
    GET  /api/dataset/<i>.png   held-out image i at its native size, image/png
    POST /api/encode            {index} -> {index, z: posterior mean, std: posterior std}
    POST /api/random            {seed?, temperature?} -> {seed, temperature, z}: z ~ N(0, temperature^2 I)
    POST /api/interpolate       {a, b, steps?: 2..32 (8), method?: "lerp"|"slerp" (slerp), stage?}
                                 a, b: an image index (encoded to its mean) or a latent list
                                 -> {z: [steps latents], images: [steps PNG data URLs]}
Static: GET / (index.html) and /static/<file>.
"""

from vaegan.explorer.app import ApiError, Explorer
from vaegan.explorer.server import ExplorerServer, check_host, make_server, serve_in_thread

__all__ = ["ApiError", "Explorer", "ExplorerServer", "check_host", "make_server", "serve_in_thread"]
