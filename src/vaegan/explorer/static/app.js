// The explorer page. State is one latent z (every dim); sliders, the map, named directions, uploads and
// the gallery all set it, and every change decodes it with each shown stage. No build step, no deps.
"use strict";

const $ = (id) => document.getElementById(id);
const SLIDER_RANGE = 3; // |z_d| beyond 3 prior std is rare; encoded means past it pin the slider, keep the value
const DIRECTION_RANGE = 2; // s in z + s * v; s = 1 is the whole distance between the two groups' means
const GALLERY_PAGE = 120;

const state = {
  info: null, map: null, z: [], preview: null, stages: [], label: null,
  strengths: [], ends: { a: null, b: null }, galleryOffset: 0, images: {},
};
const scatter = new ScatterMap($("map"), $("legend"));

async function api(path, body, raw) {
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
    scatter.marker = project(z);
    scatter.draw();
  }
  busy = false;
  document.body.dataset.busy = "0";
}

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

// -- raw latent sliders and the traversal strip

function sliderDims() {
  const { kl, latent_dim } = state.info;
  const k = Math.max(1, Math.min(latent_dim, parseInt($("count").value, 10) || 8));
  const dims = [...Array(latent_dim).keys()];
  if ($("order").value === "kl") dims.sort((a, b) => kl[b] - kl[a]);
  return dims.slice(0, k);
}

function buildSliders() {
  const { kl, active_threshold } = state.info;
  $("sliders").replaceChildren(...sliderDims().map((d) => {
    const row = document.createElement("div");
    row.className = "slider" + (kl[d] <= active_threshold ? " dead" : "");
    row.innerHTML = `<span class="name"><b>z${d}</b> · KL ${kl[d].toFixed(2)}
      <button class="traverse" title="decode a strip sweeping z${d} alone">strip</button></span><output></output>
      <input type="range" min="${-SLIDER_RANGE}" max="${SLIDER_RANGE}" step="0.01" aria-label="z${d}">`;
    const input = row.querySelector("input");
    input.dataset.dim = d;
    input.addEventListener("input", () => {
      state.z[d] = parseFloat(input.value);
      row.querySelector("output").value = state.z[d].toFixed(2);
      state.label = null;
      redraw();
    });
    row.querySelector(".traverse").addEventListener("click", () => traverse(d));
    return row;
  }));
  syncSliders();
}

function syncSliders() {
  for (const input of $("sliders").querySelectorAll("input")) {
    const v = state.z[input.dataset.dim];
    input.value = v;
    input.parentElement.querySelector("output").value = v.toFixed(2);
  }
}

async function traverse(dim) {
  try {
    const stage = state.stages[state.stages.length - 1];
    const r = await api("/api/traverse", { z: state.z, dim, span: SLIDER_RANGE, steps: 11, stage });
    $("traversal").hidden = false;
    $("traversal-note").textContent = `z${dim} from ${-SLIDER_RANGE} to ${SLIDER_RANGE}, the other dims as set (${stage.toUpperCase()}); click one to load it`;
    $("traversal-strip").replaceChildren(...r.images.map((src, i) => stripImage(src, r.z[i], `z${dim} = ${r.values[i].toFixed(2)}`)));
  } catch (e) { showError(e); }
}

// -- named directions: each slider moves z along its vector by the change in its strength

function buildDirections() {
  const { directions } = state.info;
  $("directions-card").hidden = directions.length === 0;
  state.strengths = directions.map(() => 0);
  $("directions").replaceChildren(...directions.map((dir, k) => {
    const row = document.createElement("div");
    row.className = "slider";
    row.title = dir.description;
    row.innerHTML = `<span class="name"><b></b></span><output>0.00</output>
      <input type="range" min="${-DIRECTION_RANGE}" max="${DIRECTION_RANGE}" step="0.01" value="0">`;
    row.querySelector("b").textContent = dir.name;
    const input = row.querySelector("input");
    input.setAttribute("aria-label", dir.name);
    input.addEventListener("input", () => {
      const s = parseFloat(input.value), delta = s - state.strengths[k];
      state.strengths[k] = s;
      state.z = state.z.map((v, i) => v + delta * dir.vector[i]);
      row.querySelector("output").value = s.toFixed(2);
      syncSliders();
      redraw();
    });
    return row;
  }));
}

function resetDirections() {
  state.strengths = state.strengths.map(() => 0);
  for (const row of $("directions").children) {
    row.querySelector("input").value = 0;
    row.querySelector("output").value = "0.00";
  }
}

function setZ(z, label) {
  state.z = z.slice();
  state.preview = null;
  state.label = label;
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
    const [i, dist] = scatter.nearest(pos);
    canvas.title = dist < 6 ? m.names[i] : "";
    redraw();
  });
  canvas.addEventListener("mouseleave", () => { state.preview = null; redraw(); });
  canvas.addEventListener("click", (e) => {
    const [x, y] = scatter.toMap(e);
    setZ(fromMap([x, y]), `map (${x.toFixed(2)}, ${y.toFixed(2)})`);
  });
}

// -- your own image, saved and loaded z

async function encodeFile(file) {
  if (!file) return;
  try {
    const r = await api("/api/encode-image", file, true);
    $("upload-input").src = r.input;
    $("upload-input").hidden = false;
    $("upload-input").title = `${file.name} as the model sees it`;
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
      fig.querySelector("img").src = `/api/dataset/${index}.png`;
      fig.querySelector("figcaption").textContent = name;
      fig.addEventListener("click", () => encodeIndex(index, name, fig));
      return fig;
    }));
  } catch (e) { showError(e); }
}

async function encodeIndex(index, name, fig) {
  try {
    const r = await api("/api/encode", { index });
    for (const other of $("gallery").children) other.classList.toggle("on", other === fig);
    setZ(r.z, `${name} (posterior mean)`);
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

async function randomZ() {
  const seed = parseInt($("seed").value, 10) || 0;
  try {
    const r = await api("/api/random", { seed, temperature: parseFloat($("temperature").value) });
    setZ(r.z, `seed ${seed}, T ${r.temperature.toFixed(2)}`);
    $("seed").value = seed + 1; // the next click shows a new one; type a seed back to revisit it
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
    state.z = new Array(info.latent_dim).fill(0);
    const active = info.kl.filter((v) => v > info.active_threshold).length;
    $("about").textContent = `${info.run} · ${info.dataset} · ${info.image_size}×${info.image_size} · ` +
      `latent ${info.latent_dim} dims · ${info.dataset_size} held-out images`;
    $("active-note").textContent = `${active} of ${info.latent_dim} dims active (KL > ${info.active_threshold} nats)`;
    $("count").max = info.latent_dim;
    document.body.classList.toggle("pixelated", info.image_size < 64);
    buildStages();
    buildSliders();
    buildDirections();
    buildMap();
    showGallery(0);
    redraw();
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
