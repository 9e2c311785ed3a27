// The explorer page. State is one latent z (every dim); sliders (sliders.js), the map, uploads and the
// gallery all set it, and every change decodes it with each shown stage. No build step, no deps. In the static
// export (vaegan export --format web) offline.js answers the requests in the page instead of the server.
"use strict";

const $ = (id) => document.getElementById(id);
const GALLERY_PAGE = 120;
const SAMPLERS = { fitted: "fitted prior", normal: "N(0, I)" };

const state = {
  info: null, map: null, z: [], preview: null, upload: null, stages: [], label: null, seed: null,
  strengths: [], ends: { a: null, b: null }, galleryOffset: 0, images: {},
};
const scatter = new ScatterMap($("map"), $("legend"));

const live = typeof offline === "undefined";
document.body.classList.toggle("offline", !live); // hides what needs the server: encoding your image

async function api(path, body, raw) {
  if (!live) return offline.request(path, body);
  const init = body === undefined ? {} : raw
    ? { method: "POST", headers: { "Content-Type": "application/octet-stream" }, body }
    : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const r = await fetch(path, init);
  if (!r.ok) {
    const message = (await r.json().catch(() => ({}))).error || `${r.status} ${r.statusText}`;
    throw new Error(message);
  }
  return (r.headers.get("Content-Type") || "").startsWith("image/") ? r.blob() : r.json();
}

let errorTimer = 0;
function showError(e) {
  const box = $("error");
  box.textContent = String(e.message || e);
  box.hidden = false;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => { box.hidden = true; }, 6000);
}

// Decode coalescing: at most one round of requests in flight; moves during it collapse into one follow-up
// with the latest z, so a slow decoder never builds a queue and the picture ends at the last position.
let busy = false, dirty = false;
function redraw() {
  dirty = true;
  if (!busy) pump();
}
async function pump() {
  busy = true;
  document.body.dataset.busy = "1";
  while (dirty) {
    dirty = false;
    const z = state.preview || state.z;
    const stages = state.stages.slice(); // the toggle may change them while these decodes are in flight
    const t0 = performance.now();
    try {
      const blobs = await Promise.all(stages.map((stage) => api("/api/decode", { z, stage })));
      stages.forEach((stage, i) => showImage(stage, blobs[i]));
      const label = state.preview ? "map point · " : state.label ? `${state.label} · ` : "";
      $("status").textContent = `${label}decode ${Math.round(performance.now() - t0)} ms`;
      document.body.dataset.frames = String(+document.body.dataset.frames + 1);
    } catch (e) { showError(e); }
    scatter.markers = { current: project(state.z), upload: state.upload && project(state.upload) };
    scatter.draw();
  }
  busy = false;
  document.body.dataset.busy = "0";
}

// A thumbnail of a mapped image ("map") or a held-out one ("dataset"); the export's are the map's own.
const imageUrl = (kind, index) => (live ? `/api/${kind}/${index}.png` : offline.image(kind, index));

function showImage(stage, blob) {
  const old = state.images[stage];
  if (old) URL.revokeObjectURL(old);
  const url = state.images[stage] = URL.createObjectURL(blob);
  const fig = $(`view-${stage}`);
  if (!fig) return; // toggled away while it decoded
  fig.querySelector("img").src = url;
  fig.querySelector("a").href = url;
}

function buildViews() {
  $("views").replaceChildren(...state.stages.map((stage) => {
    const fig = document.createElement("figure");
    fig.id = `view-${stage}`;
    fig.innerHTML = `<img alt="${stage} decode"><figcaption><b>${stage.toUpperCase()}</b>
      <a title="save this image">save PNG</a></figcaption>`;
    fig.querySelector("a").download = `vaegan-${state.info.run}-${stage}.png`;
    if (state.images[stage]) fig.querySelector("img").src = fig.querySelector("a").href = state.images[stage];
    return fig;
  }));
  $("views").classList.toggle("pair", state.stages.length > 1);
}

function buildStages() {
  const { stages, stage } = state.info;
  const choices = stages.length > 1 ? [...stages, "both"] : stages;
  state.stages = [stage];
  const box = $("stages");
  box.replaceChildren(...choices.map((choice) => {
    const b = document.createElement("button");
    b.textContent = choice === "both" ? "side by side" : choice;
    b.dataset.choice = choice;
    b.className = choice === stage ? "on" : "";
    b.addEventListener("click", () => {
      state.stages = choice === "both" ? stages.slice() : [choice];
      for (const other of box.children) other.classList.toggle("on", other === b);
      buildViews();
      redraw();
    });
    return b;
  }));
  buildViews();
}

function setZ(z, label) {
  state.z = z.slice();
  state.preview = null;
  state.label = label;
  for (const thumb of $("gallery").children) thumb.classList.remove("on"); // encodeIndex marks its own
  resetDirections(); // their strengths are relative to the z they started from
  syncSliders();
  redraw();
}

// -- the map: (x, y) <-> z through the plane the server sent

function fromMap([x, y]) {
  const { centre, components } = state.map;
  return centre.map((c, i) => c + x * components[0][i] + y * components[1][i]);
}

function project(z) {
  if (!state.map) return null;
  const { centre, components } = state.map;
  const dot = (axis) => z.reduce((sum, v, i) => sum + (v - centre[i]) * axis[i], 0);
  return [dot(components[0]), dot(components[1])];
}

function buildMap() {
  const m = state.map;
  scatter.setPoints(m.points);
  $("colour-by").replaceChildren(...m.colourings.map((c, i) => new Option(c.name, i)));
  scatter.setColouring(m.colourings[0]);
  $("map-note").textContent = `${m.points.length} images encoded to their posterior means and projected on their two ` +
    "principal directions; the other directions stay at the images' mean";
  scatter.draw();
  const canvas = $("map");
  canvas.addEventListener("mousemove", (e) => {
    const pos = scatter.toMap(e);
    state.preview = fromMap(pos);
    showNearest(scatter.nearest(pos)[0], e);
    redraw();
  });
  canvas.addEventListener("mouseleave", () => {
    state.preview = null;
    $("hover-card").hidden = true;
    scatter.highlight = -1;
    redraw();
  });
  canvas.addEventListener("click", (e) => {
    const [x, y] = scatter.toMap(e);
    setZ(fromMap([x, y]), `map (${x.toFixed(2)}, ${y.toFixed(2)})`);
  });
}

// The card by the cursor: the nearest mapped image's thumbnail and name, and which split it is from.
function showNearest(i, event) {
  const card = $("hover-card"), m = state.map;
  if (scatter.highlight !== i) {
    scatter.highlight = i;
    card.querySelector("img").src = imageUrl("map", i);
    const split = m.colourings.find((c) => c.name === "split").values[i] ? "held-out" : "training";
    card.querySelector("b").textContent = m.names[i];
    card.querySelector("span").textContent = `nearest image · ${split}`;
  }
  const box = card.parentElement.getBoundingClientRect();
  card.style.left = `${event.clientX - box.left + 14}px`;
  card.style.top = `${event.clientY - box.top + 14}px`;
  card.hidden = false;
}

// -- your own image, saved and loaded z

async function encodeFile(file) {
  if (!file) return;
  try {
    const r = await api("/api/encode-image", file, true);
    $("upload-input").src = r.input;
    $("upload-input").hidden = false;
    $("upload-input").title = `${file.name} as the model sees it`;
    state.upload = r.z;
    setZ(r.z, `${file.name} (posterior mean)`);
  } catch (e) { showError(`${file.name}: ${e.message || e}`); }
}

function saveZ() {
  const text = JSON.stringify({ run: state.info.run, stage: state.stages[0], label: state.label, z: state.z }, null, 1);
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
  a.download = `vaegan-${state.info.run}-z.json`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

async function loadZ(file) {
  if (!file) return;
  try {
    const saved = JSON.parse(await file.text());
    const z = Array.isArray(saved) ? saved : saved.z;
    const n = state.info.latent_dim;
    if (!Array.isArray(z) || z.length !== n || !z.every(Number.isFinite)) {
      throw new Error(`expected a JSON list of ${n} numbers, or an object with one under "z"`);
    }
    setZ(z, file.name);
  } catch (e) { showError(`${file.name}: ${e.message || e}`); }
}

// -- gallery (paged) and interpolation

async function showGallery(offset) {
  try {
    const page = await api(`/api/gallery?offset=${offset}&limit=${GALLERY_PAGE}`);
    state.galleryOffset = page.offset;
    const last = Math.min(page.total, page.offset + page.items.length);
    $("page-note").textContent = `${page.offset + 1}–${last} of ${page.total}`;
    $("prev-page").disabled = page.offset === 0;
    $("next-page").disabled = last >= page.total;
    $("gallery").replaceChildren(...page.items.map(({ index, name }) => {
      const fig = document.createElement("figure");
      fig.className = "thumb";
      fig.title = `#${index}: ${name}`;
      fig.innerHTML = `<img loading="lazy" alt=""><figcaption></figcaption>`;
      fig.querySelector("img").src = imageUrl("dataset", index);
      fig.querySelector("figcaption").textContent = name;
      fig.addEventListener("click", () => encodeIndex(index, name, fig));
      return fig;
    }));
  } catch (e) { showError(e); }
}

async function encodeIndex(index, name, fig) {
  try {
    const r = await api("/api/encode", { index });
    setZ(r.z, `${name} (posterior mean)`);
    fig.classList.add("on");
  } catch (e) { showError(e); }
}

function stripImage(src, z, label) {
  const img = new Image();
  img.src = src;
  img.title = `${label}: click to load`;
  img.addEventListener("click", () => setZ(z, label));
  return img;
}

async function setEnd(which) {
  const z = state.z.slice();
  try {
    const blob = await api("/api/decode", { z, stage: state.stages[0] });
    const end = state.ends[which];
    if (end) URL.revokeObjectURL(end.url);
    state.ends[which] = { z, url: URL.createObjectURL(blob) };
    $(`end-${which}`).src = state.ends[which].url;
    $(`cap-${which}`).textContent = `${which.toUpperCase()}: ${state.label || "slider position"}`;
  } catch (e) { showError(e); }
}

async function interpolate() {
  const { a, b } = state.ends;
  if (!a || !b) return showError("set A and B first: pick an image or move the sliders, then A ← / B ←");
  try {
    const r = await api("/api/interpolate", {
      a: a.z, b: b.z, steps: parseInt($("steps").value, 10), method: $("method").value, stage: state.stages[0],
    });
    const n = r.images.length;
    $("strip").replaceChildren(...r.images.map((src, i) => stripImage(src, r.z[i], `interpolation t = ${(i / (n - 1)).toFixed(2)}`)));
  } catch (e) { showError(e); }
}

// The seed box shows the seed of the z drawn last, as its captions do; a click draws the next seed, or the
// one typed into the box when it differs.
async function randomZ() {
  let seed = parseInt($("seed").value, 10) || 0;
  if (seed === state.seed) seed += 1;
  try {
    const stage = state.stages[state.stages.length - 1]; // side by side: the z the GAN was trained on
    const r = await api("/api/random", { seed, temperature: parseFloat($("temperature").value), stage });
    seed = r.seed; // an export holds a few hundred seeds' z and wraps past them
    setZ(r.z, `seed ${seed} · ${SAMPLERS[r.sampler]} · T ${r.temperature.toFixed(2)}`);
    $("seed").value = seed;
    state.seed = seed;
  } catch (e) { showError(e); }
}

function wireDrop() {
  const drop = $("drop");
  for (const kind of ["dragenter", "dragover"]) {
    drop.addEventListener(kind, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    encodeFile(e.dataTransfer.files[0]);
  });
  // a file dropped anywhere else would make the browser leave the page to show it
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
}

async function start() {
  try {
    const [info, map] = await Promise.all([api("/api/info"), api("/api/map")]);
    state.info = info;
    state.map = map;
    state.z = new Array(info.latent_dim).fill(0); // until the first held-out image is encoded
    const active = info.kl.filter((v) => v > info.active_threshold).length;
    $("about").textContent = `${info.run} · ${info.dataset} · ${info.image_size}×${info.image_size} · ` +
      `latent ${info.latent_dim} dims · ${info.dataset_size} held-out images` + (live ? "" : " · decoded in your browser");
    $("active-note").textContent = `${active} of ${info.latent_dim} dims active (KL > ${info.active_threshold} nats)`;
    $("count").max = info.latent_dim;
    document.body.classList.toggle("pixelated", info.image_size < 64);
    const samplers = [...new Set(Object.values(info.samplers))].map((s) => SAMPLERS[s]).join(" or ");
    $("random").title = `z from the run's sampler, as vaegan sample draws it: ${samplers}`;
    buildStages();
    buildPrincipal();
    buildSliders();
    buildDirections();
    buildMap();
    await showGallery(0);
    $("gallery").firstElementChild.click(); // open on a real image: the first held-out one's posterior mean
  } catch (e) { showError(e); }
}

$("random").addEventListener("click", randomZ);
$("zero").addEventListener("click", () => setZ(new Array(state.info.latent_dim).fill(0), "z = 0"));
$("temperature").addEventListener("input", () => { $("temperature-value").value = (+$("temperature").value).toFixed(2); });
$("count").addEventListener("change", buildSliders);
$("order").addEventListener("change", buildSliders);
$("colour-by").addEventListener("change", () => { scatter.setColouring(state.map.colourings[$("colour-by").value]); scatter.draw(); });
$("upload").addEventListener("change", (e) => encodeFile(e.target.files[0]));
$("save-z").addEventListener("click", saveZ);
$("load-z").addEventListener("change", (e) => loadZ(e.target.files[0]));
$("prev-page").addEventListener("click", () => showGallery(Math.max(0, state.galleryOffset - GALLERY_PAGE)));
$("next-page").addEventListener("click", () => showGallery(state.galleryOffset + GALLERY_PAGE));
$("set-a").addEventListener("click", () => setEnd("a"));
$("set-b").addEventListener("click", () => setEnd("b"));
$("interpolate").addEventListener("click", interpolate);
wireDrop();
start();
