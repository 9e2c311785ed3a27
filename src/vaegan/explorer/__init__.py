"""Latent-space explorer: a local web page over a trained run (`vaegan explore RUN`).

It opens on a held-out image's posterior mean. A latent map (held-out and training images encoded and
projected on their two principal directions) to hover (the nearest image's thumbnail and name) and click;
sliders along the principal directions of the posterior means, along named directions (class and
attribute vectors) and over the raw latent dimensions; the user's own image encoded and marked on the
map; VAE and GAN side by side; interpolation and traversal strips. core.py holds the operations (over
vaegan.latent), directions.py the slider directions, api.py the FastAPI routes and their typed bodies,
uploads.py the bound on concurrent uploads, server.py the uvicorn server bound to 127.0.0.1; the page is
plain HTML/JS/CSS in static/, no build step. site.py writes it as a static site that needs no server
(`vaegan export RUN --format web`): static/offline.js answers the API in the page, static/decoder.js decodes.
Needs the `explorer` extra (fastapi, uvicorn).

JSON API (errors: {"error": message} with 400 for something the run lacks, 403 for a foreign Host or
Origin, 404 for unknown paths, 413 for a body too large, 422 for a wrong type or range, 503 with Retry-After
for an upload past the queue; never a traceback):
    GET  /api/info              {run, latent_dim, stages, stage, active_dims, kl, active_threshold,
                                 image_size, channels, dataset_size, dataset, directions: [{name,
                                 description, vector}], principal: [{name, share, spread, axis}],
                                 samplers: {stage: "fitted"|"normal"}}
    GET  /api/map               {points: [[x, y]], names, colourings: [{name, legend, values}],
                                 centre: [D], components: [[D], [D]]}: z = centre + x c0 + y c1
    GET  /api/gallery?offset&limit  {total, offset, items: [{index, name}]} of the held-out images
    GET  /api/dataset/<i>.png   held-out image i at its native size
    GET  /api/map/<i>.png       mapped image i (the order of /api/map's points)
    POST /api/decode            {z: [D numbers], stage?: "vae"|"gan"} -> image/png
    POST /api/encode            {index} -> {index, z: posterior mean, std: posterior std}
    POST /api/encode-image      the bytes of an image file -> {z, std, input: the prepared image (data URL)}
    POST /api/random            {seed?, temperature?, stage?} -> {seed, temperature, sampler, z}: z from the
                                 stage's sampler as `vaegan sample` draws it (the fitted prior or N(0, I))
    POST /api/interpolate       {a, b, steps?: 2..32 (8), method?: "lerp"|"slerp" (slerp), stage?}
                                 a, b: an image index (encoded to its mean) or a latent list
                                 -> {z: [steps latents], images: [steps PNG data URLs]}
    POST /api/traverse          {z, dim, span? (3), steps? (9), stage?} -> {values, z, images}
Static: GET / (index.html) and /static/<file>.
"""
