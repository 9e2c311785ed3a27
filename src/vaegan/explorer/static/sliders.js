// The sliders: principal directions (z's coordinate on each, absolute), named directions (relative to the z
// they started from) and raw latent dimensions. Each sets state.z and redraws; syncSliders shows a new z.
"use strict";

const SLIDER_RANGE = 3; // |z_d| beyond 3 prior std is rare; encoded means past it pin the slider, keep the value
const DIRECTION_RANGE = 2; // s in z + s * v; s = 1 is the whole distance between the two groups' means
const PRINCIPAL_RANGE = 3; // spreads along a principal direction: the images' means lie within about 3

// -- principal directions: slider k shows (z - centre) . axis_k / spread_k and moves z along axis_k alone

function principalCoordinate(dir) {
  const { centre } = state.map;
  return state.z.reduce((sum, v, i) => sum + (v - centre[i]) * dir.axis[i], 0) / dir.spread;
}

function buildPrincipal() {
  const { principal } = state.info;
  $("principal").replaceChildren(...principal.map((dir) => {
    const row = document.createElement("div");
    row.className = "slider";
    row.title = `${(100 * dir.share).toFixed(1)}% of the variance of the images' latents; one step is one standard deviation (${dir.spread.toFixed(2)} in z)`;
    row.innerHTML = `<span class="name"><b>${dir.name}</b> · ${(100 * dir.share).toFixed(1)}%</span><output></output>
      <input type="range" min="${-PRINCIPAL_RANGE}" max="${PRINCIPAL_RANGE}" step="0.01" aria-label="${dir.name}">`;
    const input = row.querySelector("input");
    input.addEventListener("input", () => {
      const delta = (parseFloat(input.value) - principalCoordinate(dir)) * dir.spread;
      state.z = state.z.map((v, i) => v + delta * dir.axis[i]);
      state.label = null;
      syncSliders();
      redraw();
    });
    return row;
  }));
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
      syncSliders();
      redraw();
    });
    row.querySelector(".traverse").addEventListener("click", () => traverse(d));
    return row;
  }));
  syncSliders();
}

function syncSliders() {
  const show = (input, v) => {
    input.value = v;
    input.parentElement.querySelector("output").value = v.toFixed(2);
  };
  for (const input of $("sliders").querySelectorAll("input")) show(input, state.z[input.dataset.dim]);
  state.info.principal.forEach((dir, k) => show($("principal").children[k].querySelector("input"), principalCoordinate(dir)));
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
  $("named").hidden = directions.length === 0;
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
