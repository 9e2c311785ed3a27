// The latent map: a scatter of PCA coordinates on a canvas, its legend, and pixel <-> map coordinates.
// Knows nothing of the server; app.js gives it the data and turns map points into z.
"use strict";

const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
  "#9c755f", "#bab0ac", "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#17becf"];
const PAD = 12; // pixels between the canvas edge and the outermost drawn point
const REACH = 12; // pixels a marker reaches from its centre (the crosshair's arms, the diamond's points, the line)

// The shown z: a ringed crosshair; the user's uploaded image: a diamond in the accent colour.
const MARKERS = {
  current(ctx, px, py) {
    ctx.strokeStyle = "#1d2330";
    ctx.beginPath();
    ctx.arc(px, py, 7, 0, 2 * Math.PI);
    ctx.moveTo(px - 11, py); ctx.lineTo(px + 11, py); ctx.moveTo(px, py - 11); ctx.lineTo(px, py + 11);
    ctx.stroke();
  },
  upload(ctx, px, py) {
    ctx.strokeStyle = "#4a5cf0";
    ctx.beginPath();
    ctx.moveTo(px, py - 10); ctx.lineTo(px + 10, py); ctx.lineTo(px, py + 10); ctx.lineTo(px - 10, py);
    ctx.closePath();
    ctx.stroke();
  },
};

class ScatterMap {
  constructor(canvas, legend) {
    this.canvas = canvas;
    this.legend = legend;
    this.points = [];
    this.values = [];
    this.markers = {}; // kind ("current", "upload") -> [x, y] in map coordinates, or null
    this.highlight = -1; // the point under the hover card
  }

  // Bounds from the 1st to the 99th percentile so one outlier does not squash the rest into a corner.
  setPoints(points) {
    this.points = points;
    const q = (axis, p) => {
      const sorted = points.map((pt) => pt[axis]).sort((a, b) => a - b);
      return sorted[Math.min(sorted.length - 1, Math.floor(p * (sorted.length - 1)))];
    };
    this.lo = [q(0, 0.01), q(1, 0.01)];
    this.hi = [q(0, 0.99), q(1, 0.99)];
    for (const a of [0, 1]) {
      const span = (this.hi[a] - this.lo[a]) || 1;
      this.lo[a] -= 0.08 * span;
      this.hi[a] += 0.08 * span;
    }
  }

  setColouring(colouring) {
    this.values = colouring.values;
    this.legend.replaceChildren(...colouring.legend.map((name, i) => {
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = PALETTE[i % PALETTE.length];
      const count = this.values.filter((v) => v === i).length;
      item.append(swatch, `${name} (${count})`);
      return item;
    }));
  }

  toPixel([x, y]) {
    const { width, height } = this.canvas;
    return [PAD + ((x - this.lo[0]) / (this.hi[0] - this.lo[0])) * (width - 2 * PAD),
      height - PAD - ((y - this.lo[1]) / (this.hi[1] - this.lo[1])) * (height - 2 * PAD)];
  }

  // A marker's pixel position held inside the canvas: an image encoded far from the mapped ones is drawn
  // whole at the edge nearest it, not as a 1-px tick at the border.
  inside([px, py]) {
    const { width, height } = this.canvas;
    const hold = (v, size) => Math.min(Math.max(v, REACH), size - REACH);
    return [hold(px, width), hold(py, height)];
  }

  // A mouse event's position in map coordinates (the canvas may be scaled by CSS).
  toMap(event) {
    const box = this.canvas.getBoundingClientRect();
    const px = ((event.clientX - box.left) / box.width) * this.canvas.width;
    const py = ((event.clientY - box.top) / box.height) * this.canvas.height;
    const { width, height } = this.canvas;
    return [this.lo[0] + ((px - PAD) / (width - 2 * PAD)) * (this.hi[0] - this.lo[0]),
      this.lo[1] + ((height - PAD - py) / (height - 2 * PAD)) * (this.hi[1] - this.lo[1])];
  }

  draw() {
    const ctx = this.canvas.getContext("2d");
    const { width, height } = this.canvas;
    ctx.clearRect(0, 0, width, height);
    ctx.strokeStyle = "#e2e5ea";
    ctx.strokeRect(0.5, 0.5, width - 1, height - 1);
    const [ox, oy] = this.toPixel([0, 0]); // the axes through the mean of the mapped images
    ctx.beginPath();
    ctx.moveTo(ox, 0); ctx.lineTo(ox, height); ctx.moveTo(0, oy); ctx.lineTo(width, oy);
    ctx.stroke();
    ctx.globalAlpha = 0.7;
    this.points.forEach((pt, i) => {
      const [px, py] = this.toPixel(pt);
      ctx.fillStyle = PALETTE[(this.values[i] || 0) % PALETTE.length];
      ctx.fillRect(px - 2, py - 2, 4, 4);
    });
    ctx.globalAlpha = 1;
    ctx.lineWidth = 2;
    if (this.highlight >= 0) {
      const [px, py] = this.toPixel(this.points[this.highlight]);
      ctx.strokeStyle = "#1d2330";
      ctx.strokeRect(px - 4, py - 4, 8, 8);
    }
    const drawn = Object.keys(this.markers).filter((kind) => this.markers[kind]);
    for (const kind of drawn) MARKERS[kind](ctx, ...this.inside(this.toPixel(this.markers[kind])));
    ctx.lineWidth = 1;
    this.canvas.dataset.markers = drawn.join(" ");
  }

  // The point nearest a map position, for the hover caption: [index, distance in pixels].
  nearest(pos) {
    const [qx, qy] = this.toPixel(pos);
    let best = -1, bestD = Infinity;
    this.points.forEach((pt, i) => {
      const [px, py] = this.toPixel(pt);
      const d = (px - qx) ** 2 + (py - qy) ** 2;
      if (d < bestD) { best = i; bestD = d; }
    });
    return [best, Math.sqrt(bestD)];
  }
}
