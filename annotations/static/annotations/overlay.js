/*
 * Draws layers of annotations (annotations/layers.js) on two <canvas> elements over
 * OpenSeadragon's: a base canvas with every shown layer, bottom layer first (one fill and one
 * stroke per colour and frame, culled by bounding box, shapes under a pixel drawn as dots), and a
 * top canvas for what changes with every pointer move (the selection, handles, the shape being
 * drawn, highlights), painted by whoever registered a painter, without touching the base.
 * While the view animates and a full frame is slow, the base canvas is the last full frame
 * moved with the view, and is drawn again once the animation stops.
 *
 * Colours come from each feature's label (the palette) or from the layer's person, as
 * display.colourBy says, for every layer at once; a layer with styleKey and styleOf (a model's,
 * modellayers.js) colours its own features instead.
 */

const SLOW_FRAME_MS = 30;
const POINT_RADIUS = 5;
// Shapes smaller than this on screen get one-pixel outlines.
const SMALL_PX = 12;
// Shapes per path: the cost of filling one path grows faster than its number of subpaths.
const CHUNK = 256;
const DASH = [6, 4];

export class Overlay {
  /**
   * @param viewer OpenSeadragon viewer
   * @param {object} options palette (label colours); display {opacity, lineWidth, hidden
   *   (label ids), colourBy ("label" | "person")}, shared with whoever changes it.
   */
  constructor(viewer, { palette, display = {} }) {
    this.viewer = viewer;
    this.palette = palette;
    this.display = Object.assign(display, {
      opacity: display.opacity ?? 0.3,
      lineWidth: display.lineWidth ?? 2,
      hidden: display.hidden ?? new Set(),
      colourBy: display.colourBy ?? "label",
    });
    // Top first, as the layer panel lists them; drawn from the last to the first.
    this.layers = [];
    this.painters = [];
    this.base = this.makeCanvas("annotation-layer");
    this.top = this.makeCanvas("annotation-layer annotation-layer-top");
    this.cache = document.createElement("canvas");
    this.cacheMatrix = null;
    this.matrix = { a: 1, b: 0, c: 0, d: 1, e: 0, f: 0 };
    this.scale = 1;
    this.width = 0;
    this.height = 0;
    this.dpr = 1;
    this.frame = null;
    this.baseDirty = false;
    this.topDirty = false;
    this.animating = false;
    this.lastBaseMs = 0;
    this.drawnCount = 0;
    this.frames = 0;
    this.afterBase = [];
    viewer.canvas.append(this.base, this.top);
    viewer.addHandler("animation", () => {
      this.animating = true;
      this.requestAll();
    });
    viewer.addHandler("animation-finish", () => {
      this.animating = false;
      this.requestAll();
    });
    for (const name of ["open", "resize", "rotate", "flip"]) {
      viewer.addHandler(name, () => this.requestAll());
    }
  }

  /** Add a layer above the others, or at ``index`` in the top-first list. */
  addLayer(layer, index = 0) {
    this.layers.splice(index, 0, layer);
    this.requestBase();
    return layer;
  }

  /** Paint on the top canvas (ctx in CSS px of the viewer) at every top repaint. */
  addPainter(paint) {
    this.painters.push(paint);
    this.requestTop();
  }

  /** The colour of a feature of ``layer`` with label ``labelId``, by label or by person. */
  colourOf(layer, labelId) {
    return this.display.colourBy === "person" && layer
      ? layer.colour
      : this.palette.colourOf(labelId);
  }

  makeCanvas(className) {
    const canvas = document.createElement("canvas");
    canvas.className = className;
    canvas.setAttribute("aria-hidden", "true");
    return canvas;
  }

  requestAll() {
    this.baseDirty = true;
    this.topDirty = true;
    this.schedule();
  }

  requestBase() {
    this.baseDirty = true;
    this.schedule();
  }

  requestTop() {
    this.topDirty = true;
    this.schedule();
  }

  /** Call back once the next full base frame has been drawn. */
  whenDrawn(callback) {
    this.afterBase.push(callback);
    this.requestBase();
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.draw());
  }

  draw() {
    this.frame = null;
    if (!this.updateMatrix()) return;
    this.fitCanvases();
    if (this.baseDirty) {
      this.baseDirty = false;
      if (this.animating && this.lastBaseMs > SLOW_FRAME_MS && this.cacheMatrix) {
        this.blitCache();
      } else {
        this.renderBase();
        const callbacks = this.afterBase.splice(0);
        for (const callback of callbacks) callback();
      }
    }
    if (this.topDirty) {
      this.topDirty = false;
      const ctx = this.top.getContext("2d");
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, this.top.width, this.top.height);
      ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
      for (const paint of this.painters) paint(ctx, this);
    }
  }

  /** The affine map from slide pixels to CSS pixels of the viewer element; false before open. */
  updateMatrix() {
    const item = this.viewer.world.getItemAt(0);
    if (!item) return false;
    const P = window.OpenSeadragon.Point;
    const unit = 1024;
    const o = item.imageToViewerElementCoordinates(new P(0, 0));
    const x = item.imageToViewerElementCoordinates(new P(unit, 0));
    const y = item.imageToViewerElementCoordinates(new P(0, unit));
    this.matrix = {
      a: (x.x - o.x) / unit,
      b: (x.y - o.y) / unit,
      c: (y.x - o.x) / unit,
      d: (y.y - o.y) / unit,
      e: o.x,
      f: o.y,
    };
    this.scale = Math.hypot(this.matrix.a, this.matrix.b);
    return true;
  }

  fitCanvases() {
    const element = this.viewer.canvas;
    const width = element.clientWidth;
    const height = element.clientHeight;
    const dpr = window.devicePixelRatio || 1;
    if (width === this.width && height === this.height && dpr === this.dpr) return;
    this.width = width;
    this.height = height;
    this.dpr = dpr;
    for (const canvas of [this.base, this.top, this.cache]) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
    }
    this.cacheMatrix = null;
  }

  toScreen(x, y) {
    const m = this.matrix;
    return [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f];
  }

  toImage(sx, sy) {
    const m = this.matrix;
    const det = m.a * m.d - m.b * m.c;
    const dx = sx - m.e;
    const dy = sy - m.f;
    return [(m.d * dx - m.c * dy) / det, (-m.b * dx + m.a * dy) / det];
  }

  /** Slide pixels under a pointer event. */
  eventToImage(event) {
    const rect = this.viewer.canvas.getBoundingClientRect();
    return this.toImage(event.clientX - rect.left, event.clientY - rect.top);
  }

  /** The bounding box in slide pixels of what the viewer shows. */
  viewBox() {
    const corners = [
      this.toImage(0, 0),
      this.toImage(this.width, 0),
      this.toImage(0, this.height),
      this.toImage(this.width, this.height),
    ];
    const xs = corners.map((c) => c[0]);
    const ys = corners.map((c) => c[1]);
    return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
  }

  /** Add rings (flat arrays of slide px) to a path in screen px, dropping sub-pixel steps. */
  addRings(path, rings, close) {
    const { a, b, c, d, e, f } = this.matrix;
    for (const ring of rings) {
      const n = ring.length;
      let lastX = a * ring[0] + c * ring[1] + e;
      let lastY = b * ring[0] + d * ring[1] + f;
      path.moveTo(lastX, lastY);
      for (let i = 2; i < n; i += 2) {
        const x = a * ring[i] + c * ring[i + 1] + e;
        const y = b * ring[i] + d * ring[i + 1] + f;
        if (i < n - 2 && Math.abs(x - lastX) < 0.75 && Math.abs(y - lastY) < 0.75) continue;
        path.lineTo(x, y);
        lastX = x;
        lastY = y;
      }
      if (close) path.closePath();
    }
  }

  addPoint(path, x, y, radius = POINT_RADIUS) {
    const [sx, sy] = this.toScreen(x, y);
    path.moveTo(sx + radius, sy);
    path.arc(sx, sy, radius, 0, 2 * Math.PI);
  }

  /** Sort a feature into its label's lists by how to draw it; false when it is culled. */
  classify(group, feature, box) {
    const [x0, y0, x1, y1] = feature.bbox;
    if (x0 > box[2] || x1 < box[0] || y0 > box[3] || y1 < box[1]) return false;
    const type = feature.geometry.type;
    const size = Math.max(x1 - x0, y1 - y0) * this.scale;
    if (type === "Point") group.points.push(feature);
    else if (size < 1.5) group.dots.push(feature);
    else if (type === "LineString") group.lines.push(feature);
    else if (size < SMALL_PX) group.small.push(feature);
    else group.large.push(feature);
    return true;
  }

  renderBase() {
    const started = performance.now();
    const ctx = this.cache.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.cache.width, this.cache.height);
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    const box = this.viewBox();
    let drawn = 0;
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const layer = this.layers[i];
      layer.drawn = layer.visible ? this.renderLayer(ctx, layer, box) : 0;
      drawn += layer.drawn;
    }
    this.cacheMatrix = { ...this.matrix };
    this.drawnCount = drawn;
    this.frames += 1;
    this.blit(1, 0, 0, 1, 0, 0);
    this.lastBaseMs = performance.now() - started;
  }

  /** Draw one layer's features in view; return how many. */
  renderLayer(ctx, layer, box) {
    const { display } = this;
    const { store } = layer;
    if (store.reduced) this.drawClusters(ctx, layer);
    const byPerson = display.colourBy === "person";
    // A layer may style its own features (a model's: by class, by a measurement, as a heatmap):
    // styleKey(feature) groups them, styleOf(key) says how a group is drawn.
    const keyOf = layer.styleKey
      ? (feature) => layer.styleKey(feature)
      : (feature) => (byPerson ? null : feature.labelId);
    const groups = new Map();
    let drawn = 0;
    for (const feature of store.features.values()) {
      if (!layer.shows(feature, display)) continue;
      const key = keyOf(feature);
      let group = groups.get(key);
      if (!group) {
        group = { large: [], small: [], lines: [], points: [], dots: [] };
        groups.set(key, group);
      }
      if (this.classify(group, feature, box)) drawn += 1;
    }
    const fillAlpha = display.opacity * layer.opacity;
    ctx.setLineDash(layer.dashed ? DASH : []);
    // Paths are built on the context itself: appending to a Path2D is many times slower.
    for (const [key, group] of groups) {
      const style = layer.styleOf ? layer.styleOf(key) : {};
      const colour = style.colour || this.colourOf(layer, key);
      const outline = style.outline ?? true;
      ctx.fillStyle = colour;
      ctx.strokeStyle = colour;
      // Small shapes: one-pixel outlines, which canvas draws far faster than wider ones.
      for (const [features, width, join] of [
        [group.small, Math.min(1, display.lineWidth), "miter"],
        [group.large, display.lineWidth, "bevel"],
      ]) {
        ctx.lineWidth = width;
        ctx.lineJoin = join;
        for (let start = 0; start < features.length; start += CHUNK) {
          ctx.beginPath();
          const end = Math.min(features.length, start + CHUNK);
          for (let i = start; i < end; i++) this.addRings(ctx, features[i].rings, true);
          // A corrected region is its outline only, over the original it corrects; a
          // heatmap's cells are their fill only, which carries the value.
          if (!layer.dashed) {
            ctx.globalAlpha = style.fillAlpha ?? fillAlpha;
            ctx.fill();
          }
          ctx.globalAlpha = layer.opacity;
          if (outline) ctx.stroke();
        }
      }
      ctx.globalAlpha = layer.opacity;
      if (group.lines.length) {
        ctx.beginPath();
        for (const feature of group.lines) this.addRings(ctx, feature.rings, false);
        ctx.lineWidth = display.lineWidth;
        ctx.lineJoin = "round";
        ctx.stroke();
      }
      if (group.dots.length) {
        ctx.beginPath();
        for (const { bbox } of group.dots) {
          const [sx, sy] = this.toScreen((bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2);
          ctx.rect(sx - 1, sy - 1, 2, 2);
        }
        ctx.fill();
      }
      if (group.points.length) {
        ctx.beginPath();
        for (const { bbox } of group.points) this.addPoint(ctx, bbox[0], bbox[1]);
        ctx.fill();
        ctx.strokeStyle = "#fff";
        ctx.lineWidth = 1.5;
        ctx.stroke();
      }
      ctx.globalAlpha = 1;
    }
    ctx.setLineDash([]);
    return drawn;
  }

  drawClusters(ctx, layer) {
    const { display } = this;
    const clusters = layer.store.clusters;
    ctx.font = "600 12px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    const most = Math.max(1, ...clusters.map((cell) => cell.count));
    const byPerson = display.colourBy === "person";
    for (const cell of clusters) {
      if (cell.labelId != null && display.hidden.has(cell.labelId)) continue;
      const path = new Path2D();
      this.addRings(path, cell.rings, true);
      ctx.fillStyle = byPerson ? layer.colour : cell.colour;
      ctx.globalAlpha = (0.15 + 0.55 * Math.sqrt(cell.count / most)) * layer.opacity;
      ctx.fill(path);
      ctx.globalAlpha = 1;
      const [x0, y0, x1, y1] = cell.bbox;
      if ((x1 - x0) * this.scale > 28) {
        const [sx, sy] = this.toScreen((x0 + x1) / 2, (y0 + y1) / 2);
        ctx.fillStyle = "#fff";
        ctx.strokeStyle = "rgba(0, 0, 0, 0.6)";
        ctx.lineWidth = 3;
        ctx.strokeText(String(cell.count), sx, sy);
        ctx.fillText(String(cell.count), sx, sy);
      }
    }
  }

  /** Copy the cache to the base layer, moved from the view it was drawn for to this one. */
  blitCache() {
    const m = this.matrix;
    const k = this.cacheMatrix;
    const det = k.a * k.d - k.b * k.c;
    // R = M · K⁻¹ on the linear part; the offset follows from R · K(0) + t = M(0).
    const ia = k.d / det;
    const ib = -k.b / det;
    const ic = -k.c / det;
    const id = k.a / det;
    const ra = m.a * ia + m.c * ib;
    const rb = m.b * ia + m.d * ib;
    const rc = m.a * ic + m.c * id;
    const rd = m.b * ic + m.d * id;
    const re = m.e - (ra * k.e + rc * k.f);
    const rf = m.f - (rb * k.e + rd * k.f);
    this.blit(ra, rb, rc, rd, re * this.dpr, rf * this.dpr);
    // Draw a real frame once the view rests.
    this.baseDirty = !this.animating;
  }

  blit(a, b, c, d, e, f) {
    const ctx = this.base.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.base.width, this.base.height);
    ctx.setTransform(a, b, c, d, e, f);
    ctx.drawImage(this.cache, 0, 0);
  }
}
