// A vaegan Decoder in plain JS, for the static export (vaegan export RUN --format web): z -> RGBA pixels.
//
// Why not onnxruntime-web (1.30.0, measured in headless Chromium on 2 CPU cores): its smallest wasm build,
// ort-wasm-simd-threaded.wasm, is 14.2 MB, 19 MB as the base64 a page opened from file:// must carry it in:
// past the export's 15 MB target before any weights. And its loader import()s an ES module, which Chromium
// refuses from file://. Where it does run (file access opened by a browser flag) it decodes the 64 px emoji
// decoder in 4 ms a decode; this file, 8 kB, takes 20-30 ms (tests/explorer/test_site_browser.py times it),
// well within the explorer's 100 ms for a decode under the cursor.
//
// vaegan.explorer.site writes each layer's weights in the layout the loops below read, activations being
// channels last (H, W, C): a linear layer's as (in, out), a conv's kernel as (c_in, kh, kw, c_out), so the
// innermost loops run over contiguous outputs. A resize conv (nearest x2 + 3x3) is run as the 4x4 stride-2
// transposed conv it equals, as models/blocks.py's ResizeConv does, so one routine serves both upsample kinds.
"use strict";

// Per axis, the 3x3 taps that 4x4 transposed-conv tap k sums (blocks.py, _nearest_to_transpose_taps).
const RESIZE_TAPS = [[2], [1, 2], [0, 1], [0]];

class WebDecoder {
  // layers: [{op, sizes, weight and bias: offsets into floats}]; floats: every layer's weights.
  constructor(layers, floats) {
    this.floats = floats;
    this.layers = layers.map((layer) => (layer.op === "resize" ? this.resizeAsTranspose(layer) : layer));
  }

  // A resize conv's 3x3 kernel (c_in, 3, 3, c_out) as the 4x4 one of its transposed conv (c_in, 4, 4, c_out);
  // the weights travel as 3x3, 9/16 of the floats.
  resizeAsTranspose(layer) {
    const { cin, cout } = layer, small = this.param(layer.weight, cin * 9 * cout);
    const kernel = new Float32Array(cin * 16 * cout);
    for (let ci = 0; ci < cin; ci++) for (let a = 0; a < 4; a++) for (let b = 0; b < 4; b++) {
      const to = ((ci * 4 + a) * 4 + b) * cout;
      for (const u of RESIZE_TAPS[a]) for (const v of RESIZE_TAPS[b]) {
        const from = ((ci * 3 + u) * 3 + v) * cout;
        for (let co = 0; co < cout; co++) kernel[to + co] += small[from + co];
      }
    }
    return { ...layer, op: "transpose", kernel };
  }

  // Base64 of little-endian float32s (what a <script> can carry from file://) -> Float32Array.
  static fromBase64(layers, text) {
    const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
    return new WebDecoder(layers, new Float32Array(bytes.buffer));
  }

  // z (D numbers) -> the image in the model's output range, (H, W, C) channels last, and its size.
  run(z) {
    let x = Float32Array.from(z), shape = [1, 1, z.length];
    for (const layer of this.layers) [x, shape] = this[layer.op](layer, x, shape);
    return { data: x, height: shape[0], width: shape[1], channels: shape[2] };
  }

  param(offset, length) {
    return this.floats.subarray(offset, offset + length);
  }

  // Linear, then the (C, S, S) reshape torch does, stored channels last: (S, S, C).
  linear(layer, x) {
    const { in: n, out: m, shape: [c, h, w] } = layer;
    const weight = this.param(layer.weight, n * m), y = Float32Array.from(this.param(layer.bias, m));
    for (let i = 0; i < n; i++) {
      const v = x[i];
      for (let j = 0, k = i * m; j < m; j++, k++) y[j] += v * weight[k];
    }
    const out = new Float32Array(m);
    for (let ch = 0; ch < c; ch++) for (let p = 0; p < h * w; p++) out[p * c + ch] = y[ch * h * w + p];
    return [out, [h, w, c]];
  }

  relu(layer, x, shape) {
    for (let i = 0; i < x.length; i++) if (x[i] < 0) x[i] = 0;
    return [x, shape];
  }

  tanh(layer, x, shape) {
    for (let i = 0; i < x.length; i++) x[i] = Math.tanh(x[i]);
    return [x, shape];
  }

  sigmoid(layer, x, shape) {
    for (let i = 0; i < x.length; i++) x[i] = 1 / (1 + Math.exp(-x[i]));
    return [x, shape];
  }

  // x (H, W, c_in) times the kernel of every tap: (H W, c_in) @ (c_in, taps c_out), one long contiguous inner
  // loop per four nonzero inputs of a pixel (a ReLU zeroes about half), so each column is read and written
  // once per four multiply-adds: twice as fast as one input at a time. The caller adds each tap's block of
  // columns where that tap lands.
  taps(x, cin, kernel, width) {
    const pixels = x.length / cin, cols = new Float32Array(pixels * width), live = new Int32Array(cin);
    for (let p = 0; p < pixels; p++) {
      const row = p * width, base = p * cin;
      let n = 0, k = 0;
      for (let ci = 0; ci < cin; ci++) if (x[base + ci] !== 0) live[n++] = ci;
      for (; k + 4 <= n; k += 4) {
        const [a, b, c, d] = [live[k], live[k + 1], live[k + 2], live[k + 3]];
        const va = x[base + a], vb = x[base + b], vc = x[base + c], vd = x[base + d];
        const ka = a * width, kb = b * width, kc = c * width, kd = d * width;
        for (let j = 0; j < width; j++) {
          cols[row + j] += va * kernel[ka + j] + vb * kernel[kb + j] + vc * kernel[kc + j] + vd * kernel[kd + j];
        }
      }
      for (; k < n; k++) {
        const v = x[base + live[k]], kk = live[k] * width;
        for (let j = 0; j < width; j++) cols[row + j] += v * kernel[kk + j];
      }
    }
    return cols;
  }

  // ConvTranspose 4x4, stride 2, padding 1: (H, W, c_in) -> (2H, 2W, c_out); input (i, j) tap (a, b) lands
  // on output (2i - 1 + a, 2j - 1 + b).
  transpose(layer, x, [h, w, cin]) {
    const cout = layer.cout, width = 16 * cout, H = 2 * h, W = 2 * w;
    const cols = this.taps(x, cin, layer.kernel || this.param(layer.weight, cin * width), width);
    const out = new Float32Array(H * W * cout), bias = this.param(layer.bias, cout);
    for (let p = 0; p < H * W; p++) out.set(bias, p * cout);
    for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) {
      const row = (i * w + j) * width;
      for (let a = 0; a < 4; a++) {
        const oy = 2 * i - 1 + a;
        if (oy < 0 || oy >= H) continue;
        for (let b = 0; b < 4; b++) {
          const ox = 2 * j - 1 + b;
          if (ox < 0 || ox >= W) continue;
          const o = (oy * W + ox) * cout, t = row + (a * 4 + b) * cout;
          for (let c = 0; c < cout; c++) out[o + c] += cols[t + c];
        }
      }
    }
    return [out, [H, W, cout]];
  }

  // ReLU(x + Conv 3x3 (padding 1)(x)), channels kept (blocks.py, ResidualConv): input (i, j) tap (a, b)
  // lands on output (i + 1 - a, j + 1 - b).
  residual(layer, x, [h, w, c]) {
    const width = 9 * c;
    const cols = this.taps(x, c, this.param(layer.weight, c * width), width);
    const out = new Float32Array(x.length), bias = this.param(layer.bias, c);
    for (let p = 0; p < h * w; p++) out.set(bias, p * c);
    for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) {
      const row = (i * w + j) * width;
      for (let a = 0; a < 3; a++) {
        const oy = i + 1 - a;
        if (oy < 0 || oy >= h) continue;
        for (let b = 0; b < 3; b++) {
          const ox = j + 1 - b;
          if (ox < 0 || ox >= w) continue;
          const o = (oy * w + ox) * c, t = row + (a * 3 + b) * c;
          for (let k = 0; k < c; k++) out[o + k] += cols[t + k];
        }
      }
    }
    for (let i = 0; i < out.length; i++) out[i] = Math.max(0, out[i] + x[i]);
    return [out, [h, w, c]];
  }
}

// The image as 0-255 RGBA, as vaegan.data.to_uint8 maps it: a Uint8ClampedArray clamps and rounds half
// to even, as torch's round_ and clamp_ do. Grey fills R, G and B.
function toRGBA({ data, height, width, channels }, [lo, hi]) {
  const rgba = new Uint8ClampedArray(height * width * 4), scale = 255 / (hi - lo);
  for (let p = 0; p < height * width; p++) {
    for (let c = 0; c < 3; c++) rgba[4 * p + c] = (data[p * channels + (channels === 1 ? 0 : c)] - lo) * scale;
    rgba[4 * p + 3] = 255;
  }
  return rgba;
}

if (typeof module !== "undefined") module.exports = { WebDecoder, toRGBA };
