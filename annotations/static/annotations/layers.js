/*
 * Layers drawn over the slide: each holds its own features (a FeatureStore: the features of the
 * view, or its reduced form), its style and whether it can be edited. The overlay draws a list of
 * them and knows nothing else; what fills a layer is its loader: a ViewportLoader for the
 * annotations of one assignment (featuresUrl, fetched per view as the editor always did), or a
 * page that puts features in itself (the corrections of a review). A new kind of layer (a model's
 * output) is a new loader, not a change to the overlay.
 */

import { bboxOf, drawingRings } from "./geometry.js";
import { FeatureStore, fromServer } from "./store.js";

const LOAD_DEBOUNCE_MS = 250;
export const LOAD_LIMIT = 20000;
const RETRY_MS = 5000;
// Beyond this many loaded annotations, those outside the loaded box are forgotten.
const KEEP_LOADED = 60000;
const UNKNOWN_COLOUR = "#888888";

/** The JSON of a json_script element, or null when the page has none. */
export function pageJson(id) {
  const element = document.getElementById(id);
  return element ? JSON.parse(element.textContent) : null;
}

/** Label colours and names: those of the page's labels, and any met on the way (archived). */
export class Palette {
  constructor(labels = []) {
    this.labels = new Map(labels.map((label) => [label.id, label]));
  }

  learn(label) {
    if (label && !this.labels.has(label.id)) this.labels.set(label.id, label);
  }

  colourOf(labelId) {
    return this.labels.get(labelId)?.colour || UNKNOWN_COLOUR;
  }

  nameOf(labelId) {
    return this.labels.get(labelId)?.name || `Label ${labelId}`;
  }
}

/** What the overlay draws of one layer, and what the layer panel says of it. */
export class Layer {
  /**
   * @param {object} options
   *   id ("assignment-4"), name, kind ("annotations", "corrections"...), colour (the person's);
   *   editable, readOnlyReason, own, count (live annotations, as the server counted them);
   *   dashed outlines (corrections); visible; opacity (0–1, times the fill opacity);
   *   store (a FeatureStore, a new one when not given); skip(feature) → true to leave a
   *   feature out of the base drawing (the editor's selection, drawn on top).
   */
  constructor(options) {
    Object.assign(
      this,
      {
        kind: "annotations",
        colour: UNKNOWN_COLOUR,
        editable: false,
        readOnlyReason: "",
        own: false,
        count: null,
        dashed: false,
        visible: true,
        opacity: 1,
        skip: null,
        loader: null,
        note: "",
        drawn: 0,
      },
      options,
    );
    this.store = options.store || new FeatureStore();
  }

  /** Whether the feature is drawn in the base layer. */
  shows(feature, display) {
    if (feature.deleted || display.hidden.has(feature.labelId)) return false;
    if (this.store.reduced && !feature.touched) return false;
    return !(this.skip && this.skip(feature));
  }

  /** A layer of the page's JSON (annotations.selectors.annotation_layers). */
  static fromJson(json) {
    return new Layer(Layer.optionsFromJson(json));
  }

  static optionsFromJson(json) {
    return {
      id: json.id,
      kind: json.kind,
      name: json.name,
      colour: json.colour,
      editable: Boolean(json.editable),
      readOnlyReason: json.readOnlyReason || "",
      own: Boolean(json.own),
      count: json.count,
      featuresUrl: json.featuresUrl,
      json,
    };
  }
}

/**
 * Loads a layer's features for the view from its URL: the view's box padded by half its size,
 * at most ``limit`` features, else the reduced form (counts per cell), again whenever the view
 * leaves what is loaded or, reduced, changes zoom. Asks nothing while the layer is hidden.
 */
export class ViewportLoader {
  /**
   * @param {object} options
   *   layer, viewer, overlay, size {width, height} (level-0 px), url (the layer's featuresUrl);
   *   palette (learns the labels met); isPending(uuid) → true to keep the local copy of a
   *   feature with unsaved changes; onFeatures(features) for every full answer;
   *   onLoaded(first) after each answer.
   */
  constructor(options) {
    Object.assign(this, { limit: LOAD_LIMIT, isPending: () => false, onFeatures: () => {} }, options);
    this.onLoaded = options.onLoaded || (() => {});
    this.loaded = null;
    this.loading = null;
    this.timer = null;
    this.controller = null;
    this.layer.loader = this;
    this.viewer.addHandler("animation-finish", () => this.schedule());
    this.viewer.addHandler("resize", () => this.schedule());
  }

  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.load(false), LOAD_DEBOUNCE_MS);
  }

  /** The view's bounding box padded by half its size on each side, within the slide. */
  wantedBox() {
    const [x0, y0, x1, y1] = this.overlay.viewBox();
    const padX = (x1 - x0) / 2;
    const padY = (y1 - y0) / 2;
    const { width, height } = this.size;
    return [
      Math.max(0, Math.floor(x0 - padX)),
      Math.max(0, Math.floor(y0 - padY)),
      Math.min(width, Math.ceil(x1 + padX)),
      Math.min(height, Math.ceil(y1 + padY)),
    ];
  }

  /** Load what the view needs; ``first`` loads even when what is loaded covers the view. */
  async load(first) {
    if (!this.layer.visible || !this.overlay.updateMatrix()) return;
    this.overlay.fitCanvases();
    const view = this.overlay.viewBox();
    const scale = this.overlay.scale;
    const { width, height } = this.size;
    const covers = (loaded) =>
      loaded &&
      loaded.box[0] <= Math.max(0, view[0]) &&
      loaded.box[1] <= Math.max(0, view[1]) &&
      loaded.box[2] >= Math.min(width, view[2]) &&
      loaded.box[3] >= Math.min(height, view[3]) &&
      (!loaded.reduced || Math.abs(Math.log(scale / loaded.scale)) < 0.2);
    // Nothing to do when what is loaded, or on its way, covers the view.
    if (!first && (covers(this.loaded) || covers(this.loading))) return;
    const box = this.wantedBox();
    if (this.controller) this.controller.abort();
    const controller = new AbortController();
    this.controller = controller;
    // Whether the answer will be reduced is not known yet: assume so, which only matters
    // for zooming in while it is on its way.
    this.loading = { box, reduced: true, scale };
    const url = new URL(this.url, window.location.href);
    url.searchParams.set("bbox", box.join(","));
    url.searchParams.set("limit", String(this.limit));
    let data;
    try {
      const response = await fetch(url, { credentials: "same-origin", signal: controller.signal });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      data = await response.json();
    } catch (error) {
      if (error.name === "AbortError") return;
      this.loading = null;
      console.warn(`Could not load the features of the view (${this.layer.name}):`, error);
      this.timer = setTimeout(() => this.load(first), RETRY_MS);
      return;
    }
    this.ingest(data, box);
    this.loaded = { box, reduced: data.reduced, scale };
    this.loading = null;
    this.overlay.requestBase();
    this.onLoaded(first);
  }

  ingest(data, box) {
    const { store } = this.layer;
    store.total = data.total;
    store.reduced = Boolean(data.reduced);
    if (data.reduced) {
      store.clusters = data.features.map((cell) => {
        const label = cell.properties.label;
        this.palette.learn(label);
        return {
          count: cell.properties.count,
          labelId: label ? label.id : null,
          colour: label ? label.colour : UNKNOWN_COLOUR,
          bbox: bboxOf(cell.geometry),
          rings: drawingRings(cell.geometry),
        };
      });
      return;
    }
    store.clusters = [];
    this.ingestFeatures(data.features);
    this.prune(box);
  }

  /** Put a full answer's features in the layer's store (annotations; other loaders differ). */
  ingestFeatures(features) {
    for (const item of features) this.palette.learn(item.properties.label);
    this.onFeatures(features);
    this.layer.store.merge(features, this.isPending);
  }

  /** Forget untouched annotations far from the view once very many have been loaded. */
  prune(box) {
    const { features } = this.layer.store;
    if (features.size <= KEEP_LOADED) return;
    for (const [uuid, feature] of features) {
      const [x0, y0, x1, y1] = feature.bbox;
      const away = x1 < box[0] || x0 > box[2] || y1 < box[1] || y0 > box[3];
      if (away && !feature.touched && !(this.layer.skip && this.layer.skip(feature)))
        features.delete(uuid);
    }
  }
}

/** A layer of corrected regions (review verdicts "wrong region"), drawn dashed, never edited. */
export function correctionsLayer({ id, name, colour }) {
  return new Layer({ id, name, kind: "corrections", colour, dashed: true, count: 0 });
}

/**
 * Put corrected regions in a corrections layer: ``corrections`` are {annotation, labelId, kind,
 * geometry}, one per annotation.
 */
export function setCorrections(layer, corrections) {
  layer.store.features.clear();
  for (const { annotation, labelId, kind, geometry } of corrections) {
    if (!geometry) continue;
    const uuid = `correction-${annotation}`;
    const properties = { uuid, kind: kind || "polygon", label: { id: labelId }, version: 0 };
    layer.store.put(fromServer({ id: annotation, geometry, properties }));
  }
  layer.count = layer.store.liveCount;
}

/** Load each read-only layer of the list that is shown, once the slide has opened. */
export function startLoaders({ layers, viewer, overlay, size, palette, onLoaded }) {
  const loaders = layers
    .filter((layer) => layer.featuresUrl && !layer.loader)
    .map(
      (layer) =>
        new ViewportLoader({ layer, viewer, overlay, size, palette, url: layer.featuresUrl, onLoaded }),
    );
  const first = () => {
    for (const loader of loaders) loader.load(true);
  };
  if (viewer.world.getItemCount()) first();
  else viewer.addOnceHandler("open", first);
  return loaders;
}

/**
 * The layers shown at first: those of ``?layers=assignment-4,assignment-7`` when the address
 * names any (the agreement page's "open the slide with both layers"), else every one.
 */
export function applyShownLayers(layers, search = window.location.search) {
  const named = new URLSearchParams(search).get("layers");
  if (!named) return;
  const wanted = new Set(named.split(",").map((part) => part.trim()));
  if (!layers.some((layer) => wanted.has(layer.id))) return;
  for (const layer of layers) layer.visible = wanted.has(layer.id);
}

/** Set document.body.dataset.layersReady once every shown loaded layer has been drawn. */
export function markReadyWhenLoaded(layers, overlay) {
  const waiting = () =>
    layers.filter((layer) => layer.visible && layer.loader && !layer.loader.loaded);
  return () => {
    if (waiting().length || document.body.dataset.layersReady) return;
    overlay.whenDrawn(() => {
      document.body.dataset.layersReady = "1";
    });
  };
}

/** A test hook: what each layer holds and draws, and slide positions on screen. */
export function layersHook({ layers, overlay, viewer }) {
  return {
    layers,
    overlay,
    summary: () =>
      layers.map((layer) => ({
        id: layer.id,
        kind: layer.kind,
        name: layer.name,
        visible: layer.visible,
        opacity: layer.opacity,
        colour: layer.colour,
        features: layer.store.liveCount,
        reduced: layer.store.reduced,
        drawn: layer.drawn,
      })),
    get drawnCount() {
      return overlay.drawnCount;
    },
    get colourBy() {
      return overlay.display.colourBy;
    },
    toScreen: (x, y) => {
      overlay.updateMatrix();
      const [sx, sy] = overlay.toScreen(x, y);
      const rect = viewer.canvas.getBoundingClientRect();
      return [sx + rect.left, sy + rect.top];
    },
  };
}
