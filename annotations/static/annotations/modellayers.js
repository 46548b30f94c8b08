/*
 * Uploaded layers (a model's predictions, another tool's annotations: the layers app's) as the
 * overlay draws them: a ModelLayer holds its features and its style (colour by class or by a
 * measurement through a colour map, a score threshold, tiles as a heatmap), a FeatureLoader fills
 * it from the layer's featuresUrl per view (the reduced form zoomed out, as for annotations).
 * Nothing here edits: a feature becomes someone's annotation through the promote endpoint
 * (modelpanel.js).
 */

import { bboxOf, drawingRings, hits } from "./geometry.js";
import { Layer, ViewportLoader } from "./layers.js";

const UNKNOWN_COLOUR = "#888888";
// Viridis (matplotlib's), sampled at nine even steps and interpolated linearly: perceptually
// even, readable by most colour-blind people, and legible over H&E's pinks and purples.
export const VIRIDIS = [
  [68, 1, 84],
  [71, 45, 123],
  [59, 82, 139],
  [44, 114, 142],
  [33, 145, 140],
  [40, 174, 128],
  [94, 201, 98],
  [173, 220, 48],
  [253, 231, 37],
];
// Measured colours are rounded to this many steps: the overlay fills and strokes once per colour
// (and per 256 shapes), so 64 groups stay cheap where one colour per feature would not, and
// neighbouring steps of viridis cannot be told apart anyway.
const COLOUR_STEPS = 64;
// A heatmap's cells carry their value in their fill alone (no outlines): more opaque than the
// annotations' 30 % fill, yet with the tissue still visible beneath.
const HEAT_ALPHA = 0.6;
export const CLASS = ""; // colourBy of a layer coloured by its features' classes

const hex = (value) => value.toString(16).padStart(2, "0");

/** The colour of ``t`` (0–1) on viridis, as #rrggbb. */
export function colourAt(t) {
  const clamped = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0));
  const at = clamped * (VIRIDIS.length - 1);
  const low = Math.floor(at);
  const high = Math.min(VIRIDIS.length - 1, low + 1);
  const f = at - low;
  const mix = (i) => Math.round(VIRIDIS[low][i] + (VIRIDIS[high][i] - VIRIDIS[low][i]) * f);
  return `#${hex(mix(0))}${hex(mix(1))}${hex(mix(2))}`;
}

/** A CSS gradient of the colour map, for legends. */
export function colourMapGradient() {
  const stops = VIRIDIS.map(([r, g, b], i) => `rgb(${r}, ${g}, ${b}) ${(i * 100) / 8}%`);
  return `linear-gradient(to right, ${stops.join(", ")})`;
}

function rgbHex(colour) {
  if (!Array.isArray(colour) || colour.length < 3) return UNKNOWN_COLOUR;
  return `#${colour
    .slice(0, 3)
    .map((v) => hex(Math.min(255, Math.max(0, Math.round(v)))))
    .join("")}`;
}

/** A feature of the layers API (a QuPath-style Feature) as the overlay draws it. */
export function featureOf(data) {
  const { objectType, classification, measurements, score, ...properties } = data.properties;
  const feature = {
    uuid: `feature-${data.id}`,
    id: data.id,
    objectType,
    tile: objectType === "tile",
    className: classification?.name || "",
    colour: classification ? rgbHex(classification.color) : UNKNOWN_COLOUR,
    labelId: classification?.label ?? null,
    measurements: measurements || {},
    score: typeof score === "number" ? score : null,
    properties,
    geometry: data.geometry,
    deleted: false,
  };
  feature.bbox = bboxOf(data.geometry);
  feature.rings = drawingRings(data.geometry);
  return feature;
}

/** The range of a layer's scores: its score measurement's, else its "score" measurement's, else
 * that of its prob_<class> measurements (WSInfer's), as layers.reading.score_of picks them. */
export function scoreRangeOf(json) {
  const measurements = json.measurements || [];
  const named = measurements.find((m) => m.name === (json.scoreName || "score"));
  if (named) return [named.min, named.max];
  const probabilities = measurements.filter((m) => m.name.startsWith("prob_"));
  if (json.scoreName || !probabilities.length) return null;
  return [
    Math.min(...probabilities.map((m) => m.min)),
    Math.max(...probabilities.map((m) => m.max)),
  ];
}

/** An uploaded layer: read-only, coloured by class or by a measurement, filtered by score. */
export class ModelLayer extends Layer {
  constructor(json) {
    super({
      id: json.id,
      kind: json.kind,
      name: json.name,
      count: json.count,
      featuresUrl: json.featuresUrl,
      colour: json.classes?.find((c) => c.colour)?.colour || UNKNOWN_COLOUR,
      countNoun: "features",
      json,
    });
    this.layerId = json.layer;
    this.colourBy = CLASS;
    this.minScore = null; // features scoring below it are hidden; null: none is
    this.update(json);
  }

  /** Take the layer's state (uploaded, importing, ready, failed) from the API's answer. */
  update(json) {
    this.json = json;
    this.state = json.state;
    this.count = json.count;
    this.scoreRange = scoreRangeOf(json);
    this.measurements = json.measurements || [];
    const kind = json.kind === "imported" ? "Imported annotations" : "Model predictions";
    const state = {
      uploaded: "waiting to be imported",
      importing: "importing…",
      failed: `import failed: ${json.message || "no reason given"}`,
    }[json.state];
    this.note = state ? `${kind}, ${state}` : `${kind} · read-only`;
  }

  get ready() {
    return this.state === "ready";
  }

  /** The range of the measurement the layer is coloured by, or null. */
  get colourRange() {
    const measurement = this.measurements.find((m) => m.name === this.colourBy);
    return measurement ? [measurement.min, measurement.max] : null;
  }

  /** Whether the feature passes the score threshold. */
  passes(feature) {
    return this.minScore == null || (feature.score != null && feature.score >= this.minScore);
  }

  shows(feature, display) {
    if (feature.labelId != null && display.hidden.has(feature.labelId)) return false;
    if (this.store.reduced && !feature.touched) return false;
    return this.passes(feature);
  }

  /** The colour the feature is drawn in, by class or on the colour map. */
  colourOfFeature(feature) {
    const range = this.colourBy === CLASS ? null : this.colourRange;
    if (!range) return feature.colour;
    const value = feature.measurements[this.colourBy];
    if (typeof value !== "number") return UNKNOWN_COLOUR;
    const [low, high] = range;
    const t = high > low ? (value - low) / (high - low) : 1;
    return colourAt(Math.round(t * (COLOUR_STEPS - 1)) / (COLOUR_STEPS - 1));
  }

  styleKey(feature) {
    const colour = this.colourOfFeature(feature);
    return feature.tile ? `heat${colour}` : colour;
  }

  styleOf(key) {
    if (key.startsWith("heat")) {
      return { colour: key.slice(4), outline: false, fillAlpha: HEAT_ALPHA * this.opacity };
    }
    return { colour: key, outline: true };
  }

  /** The top feature shown under (x, y), within ``tolerance`` slide px of a point or line. */
  featureAt(x, y, tolerance, display) {
    let found = null;
    for (const feature of this.store.features.values()) {
      const [x0, y0, x1, y1] = feature.bbox;
      if (x < x0 - tolerance || x > x1 + tolerance || y < y0 - tolerance || y > y1 + tolerance)
        continue;
      if (!this.shows(feature, display) || !hits(feature.geometry, x, y, tolerance)) continue;
      // The smallest of overlapping shapes: a cell rather than the tile around it.
      const area = (x1 - x0) * (y1 - y0);
      if (!found || area < found.area) found = { feature, area };
    }
    return found?.feature || null;
  }

  /** A loaded feature by its id, or null. */
  featureById(id) {
    return this.store.features.get(`feature-${id}`) || null;
  }
}

/** Fills a ModelLayer from its featuresUrl, per view, as ViewportLoader does annotations. */
export class FeatureLoader extends ViewportLoader {
  ingestFeatures(features) {
    const { store } = this.layer;
    for (const data of features) {
      const feature = featureOf(data);
      store.features.set(feature.uuid, feature);
    }
  }
}
