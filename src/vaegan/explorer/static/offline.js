// The explorer's API answered in the page, for the static export (vaegan export RUN --format web): what the
// server computes once (the map, directions, held-out means, Random z) comes in data/site.js, each stage's
// decoder in data/<stage>.js, and decoder.js runs it. Everything arrives by <script> tag, since a page
// opened from file:// may not fetch() its neighbours. app.js sends its requests here when this is loaded.
"use strict";

const offline = (() => {
  const site = window.VAEGAN_SITE;
  const decoders = Object.fromEntries(Object.entries(window.VAEGAN_DECODERS).map(
    ([stage, d]) => [stage, WebDecoder.fromBase64(d.layers, d.weights)]));
  const canvas = document.createElement("canvas");

  function fail(message) {
    throw new Error(message);
  }

  function latent(z, field = "z") {
    const n = site.info.latent_dim;
    const ok = Array.isArray(z) && z.length === n && z.every(Number.isFinite);
    return ok ? z : fail(`${field} must be a list of ${n} numbers`);
  }

  function stageOf(stage) {
    stage = stage || site.info.stage;
    if (!decoders[stage]) fail(`this export has no ${stage} stage; it has ${site.info.stages.join(", ")}`);
    return stage;
  }

  // z -> the stage's picture on the shared canvas; the time of the decode alone goes to body[data-decode-ms].
  function draw(z, stage) {
    const t0 = performance.now();
    const image = decoders[stageOf(stage)].run(latent(z));
    document.body.dataset.decodeMs = (performance.now() - t0).toFixed(1);
    canvas.width = image.width;
    canvas.height = image.height;
    canvas.getContext("2d").putImageData(new ImageData(toRGBA(image, site.value_range), image.width), 0, 0);
  }

  const pngBlob = (z, stage) => new Promise((done) => { draw(z, stage); canvas.toBlob(done, "image/png"); });
  const pngUrl = (z, stage) => { draw(z, stage); return canvas.toDataURL("image/png"); };

  // vaegan.latent.lerp and slerp, for one t at a time: (1 - t) a + t b; slerp follows the arc between the two
  // directions and blends the norms linearly, falling back to lerp for nearly parallel ends.
  function interpolate(a, b, t, method) {
    const lerp = () => a.map((v, i) => (1 - t) * v + t * b[i]);
    if (method === "lerp") return lerp();
    const norm = (v) => Math.hypot(...v), na = norm(a), nb = norm(b);
    const ua = a.map((v) => v / Math.max(na, 1e-12)), ub = b.map((v) => v / Math.max(nb, 1e-12));
    const omega = Math.acos(Math.min(1, Math.max(-1, ua.reduce((s, v, i) => s + v * ub[i], 0))));
    if (Math.abs(omega) < 1e-4) return lerp();
    const so = Math.sin(omega), ka = Math.sin((1 - t) * omega) / so, kb = Math.sin(t * omega) / so;
    return ua.map((v, i) => (ka * v + kb * ub[i]) * ((1 - t) * na + t * nb));
  }

  function steps(n) {
    if (!Number.isInteger(n) || n < 2 || n > 32) fail("steps must be a whole number from 2 to 32");
    return n;
  }

  // Random z as the server draws it, exported at a few temperatures for each seed (seeds past them wrap
  // around): between two exported temperatures, the straight line between their draws.
  function random({ seed = 0, temperature = 1, stage }) {
    const sampler = site.info.samplers[stageOf(stage)], draws = site.random[sampler];
    const ts = draws.temperatures, last = ts.length - 1;
    seed = Math.max(0, seed) % draws.z[0].length;
    const t = Math.min(Math.max(temperature, ts[0]), ts[last]);
    let k = 0;
    while (k < last - 1 && t > ts[k + 1]) k += 1;
    const w = (t - ts[k]) / (ts[k + 1] - ts[k]), a = draws.z[k][seed], b = draws.z[k + 1][seed];
    return { seed, temperature, sampler, z: a.map((v, i) => v + w * (b[i] - v)) };
  }

  const routes = {
    "/api/info": () => site.info,
    "/api/map": () => site.map,
    "/api/gallery": (body, q) => {
      const offset = +q.get("offset") || 0, limit = +q.get("limit") || 120, names = site.gallery;
      const shown = names.slice(offset, offset + limit).map((name, k) => ({ index: offset + k, name }));
      return { total: names.length, offset: Math.min(offset, names.length), items: shown };
    },
    "/api/decode": ({ z, stage }) => pngBlob(z, stage),
    "/api/encode": ({ index }) => {
      const z = site.means[index] || fail(`index must be an image index from 0 to ${site.means.length - 1}`);
      return { index, z: z.slice() };
    },
    "/api/random": random,
    "/api/interpolate": ({ a, b, steps: n = 8, method = "slerp", stage }) => {
      const [za, zb] = [latent(a, "a"), latent(b, "b")], count = steps(n);
      const z = Array.from({ length: count }, (_, k) => interpolate(za, zb, k / (count - 1), method));
      return { z, images: z.map((v) => pngUrl(v, stage)) };
    },
    "/api/traverse": ({ z, dim, span = 3, steps: n = 9, stage }) => {
      const count = steps(n), start = latent(z);
      const values = Array.from({ length: count }, (_, k) => -span + (2 * span * k) / (count - 1));
      const swept = values.map((v) => start.map((x, i) => (i === dim ? v : x)));
      return { values, z: swept, images: swept.map((v) => pngUrl(v, stage)) };
    },
  };

  return {
    // The same answers as the server's routes (vaegan.explorer), or an Error with its message.
    async request(path, body) {
      const url = new URL(path, "http://page");
      const route = routes[url.pathname] || fail(`${url.pathname} needs the live explorer (vaegan explore)`);
      return route(body || {}, url.searchParams);
    },
    // A mapped image's thumbnail; the held-out images (the gallery) are the map's first points.
    image: (kind, index) => site.thumbnails[index],
  };
})();
