// The explorer page: state is one latent z (all dims); sliders show a few of them. No build step, no deps.
"use strict";

const $ = (id) => document.getElementById(id);
const SLIDER_RANGE = 3; // |z_d| beyond 3 prior std is rare; encoded means past it pin the slider, keep the value
const GALLERY_MAX = 120; // thumbnails shown; any other index can be typed in

const state = { info: null, z: [], stage: null, ends: { a: null, b: null }, current: null };

async function api(path, body) {
  const r = await fetch(path, body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
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
  errorTimer = setTimeout(() => { box.hidden = true; }, 5000);
}

// Decode coalescing: at most one request in flight; moves during it collapse into one follow-up with
// the latest z, so a slow decoder never builds a queue and the picture always ends at the last position.
let busy = false, dirty = false, viewUrl = null;
function redraw() {
  dirty = true;
  if (!busy) pump();
}
async function pump() {
  busy = true;
  while (dirty) {
    dirty = false;
    const t0 = performance.now();
    try {
      const blob = await api("/api/decode", { z: state.z, stage: state.stage });
      if (viewUrl) URL.revokeObjectURL(viewUrl);
      viewUrl = URL.createObjectURL(blob);
      $("view").src = viewUrl;
      const label = state.current ? `${state.current} · ` : "";
      $("status").textContent = `${label}${state.stage.toUpperCase()} decode ${Math.round(performance.now() - t0)} ms`;
    } catch (e) { showError(e); }
  }
  busy = false;
}

function sliderDims() {
  const { kl, latent_dim } = state.info;
  const k = Math.max(1, Math.min(latent_dim, parseInt($("count").value, 10) || 8));
  const dims = [...Array(latent_dim).keys()];
  if ($("order").value === "kl") dims.sort((a, b) => kl[b] - kl[a]);
  return dims.slice(0, k);
}

function buildSliders() {
  const { kl, active_threshold } = state.info;
  const box = $("sliders");
  box.replaceChildren();
  for (const d of sliderDims()) {
    const row = document.createElement("div");
    row.className = "slider" + (kl[d] <= active_threshold ? " dead" : "");
    row.innerHTML = `<span class="name"><b>z${d}</b> · KL ${kl[d].toFixed(2)}</span><output></output>
      <input type="range" min="${-SLIDER_RANGE}" max="${SLIDER_RANGE}" step="0.01" aria-label="z${d}">`;
    const input = row.querySelector("input"), out = row.querySelector("output");
    input.dataset.dim = d;
    input.addEventListener("input", () => {
      state.z[d] = parseFloat(input.value);
      out.value = state.z[d].toFixed(2);
      state.current = null;
      redraw();
    });
    box.append(row);
  }
  syncSliders();
}

function syncSliders() {
  for (const input of $("sliders").querySelectorAll("input")) {
    const v = state.z[input.dataset.dim];
    input.value = v;
    input.parentElement.querySelector("output").value = v.toFixed(2);
  }
}

function setZ(z, label) {
  state.z = z.slice();
  state.current = label;
  syncSliders();
  redraw();
}

async function randomZ() {
  const seed = parseInt($("seed").value, 10) || 0;
  try {
    const r = await api("/api/random", { seed, temperature: parseFloat($("temperature").value) });
    setZ(r.z, `seed ${seed}, T ${r.temperature.toFixed(2)}`);
    $("seed").value = seed + 1; // the next click shows a new one; type a seed back to revisit it
  } catch (e) { showError(e); }
}

async function encode(index) {
  try {
    const r = await api("/api/encode", { index });
    $("index").value = index;
    for (const img of $("gallery").children) img.classList.toggle("on", +img.dataset.index === index);
    setZ(r.z, `image #${index} (posterior mean)`);
  } catch (e) { showError(e); }
}

async function setEnd(which) {
  const z = state.z.slice();
  const label = state.current || "slider position";
  try {
    const blob = await api("/api/decode", { z, stage: state.stage });
    const end = state.ends[which];
    if (end) URL.revokeObjectURL(end.url);
    state.ends[which] = { z, url: URL.createObjectURL(blob) };
    $(`end-${which}`).src = state.ends[which].url;
    $(`cap-${which}`).textContent = `${which.toUpperCase()}: ${label}`;
  } catch (e) { showError(e); }
}

async function interpolate() {
  const { a, b } = state.ends;
  if (!a || !b) return showError("set A and B first: pick an image or move the sliders, then A ← / B ←");
  try {
    const r = await api("/api/interpolate", {
      a: a.z, b: b.z, steps: parseInt($("steps").value, 10), method: $("method").value, stage: state.stage,
    });
    $("strip").replaceChildren(...r.images.map((src, i) => {
      const img = new Image();
      img.src = src;
      img.title = `t = ${(i / (r.images.length - 1)).toFixed(2)}: click to load`;
      img.addEventListener("click", () => setZ(r.z[i], `interpolation t = ${(i / (r.images.length - 1)).toFixed(2)}`));
      return img;
    }));
  } catch (e) { showError(e); }
}

function buildStages() {
  const box = $("stages");
  box.replaceChildren(...state.info.stages.map((s) => {
    const b = document.createElement("button");
    b.textContent = s;
    b.className = s === state.stage ? "on" : "";
    b.title = s === "vae" ? "decode with the VAE decoder" : "decode with the GAN generator (EMA)";
    b.addEventListener("click", () => {
      state.stage = s;
      for (const other of box.children) other.classList.toggle("on", other === b);
      redraw();
    });
    return b;
  }));
}

function buildGallery() {
  const n = Math.min(state.info.dataset_size, GALLERY_MAX);
  $("gallery").replaceChildren(...Array.from({ length: n }, (_, i) => {
    const img = new Image();
    img.loading = "lazy";
    img.src = `/api/dataset/${i}.png`;
    img.dataset.index = i;
    img.title = `held-out image #${i}`;
    img.addEventListener("click", () => encode(i));
    return img;
  }));
}

async function start() {
  try {
    const info = state.info = await api("/api/info");
    state.stage = info.stage;
    state.z = new Array(info.latent_dim).fill(0);
    const active = info.kl.filter((v) => v > info.active_threshold).length;
    $("about").textContent = `${info.run} · ${info.dataset} · ${info.image_size}×${info.image_size} · ` +
      `latent ${info.latent_dim} dims · ${info.dataset_size} held-out images`;
    $("active-note").textContent = `${active} of ${info.latent_dim} dims active (KL > ${info.active_threshold} nats)`;
    $("count").max = info.latent_dim;
    $("index").max = info.dataset_size - 1;
    document.body.classList.toggle("pixelated", info.image_size < 64);
    buildStages();
    buildSliders();
    buildGallery();
    redraw();
  } catch (e) { showError(e); }
}

$("random").addEventListener("click", randomZ);
$("zero").addEventListener("click", () => setZ(new Array(state.info.latent_dim).fill(0), "z = 0"));
$("temperature").addEventListener("input", () => { $("temperature-value").value = (+$("temperature").value).toFixed(2); });
$("count").addEventListener("change", buildSliders);
$("order").addEventListener("change", buildSliders);
$("encode").addEventListener("click", () => encode(parseInt($("index").value, 10)));
$("set-a").addEventListener("click", () => setEnd("a"));
$("set-b").addEventListener("click", () => setEnd("b"));
$("interpolate").addEventListener("click", interpolate);
start();
