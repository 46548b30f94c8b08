/*
 * What the editor knows of the slide's annotations: a Map keyed by uuid (creates have no id
 * until the server answers), plus the undo history of the edits made since the page opened.
 */

import { areaOf, bboxOf, drawingRings, lengthOf } from "./geometry.js";

export function newUuid() {
  if (window.crypto.randomUUID) return window.crypto.randomUUID();
  // randomUUID needs a secure context; getRandomValues does not.
  const bytes = window.crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The editable part of a feature: what undo restores and what a PATCH can change. */
export function snapshotOf(feature) {
  return {
    geometry: feature.geometry,
    labelId: feature.labelId,
    kind: feature.kind,
    name: feature.name,
    comment: feature.comment,
  };
}

export function setGeometry(feature, geometry) {
  feature.geometry = geometry;
  feature.bbox = bboxOf(geometry);
  feature.rings = drawingRings(geometry);
  feature.localAreaPx = areaOf(geometry);
  feature.localLengthPx = lengthOf(geometry);
  feature.vertexCount = feature.rings.reduce((n, ring) => n + ring.length / 2, 0);
}

/** Turn a server Feature into the editor's record. */
export function fromServer(data) {
  const p = data.properties;
  const feature = {
    uuid: p.uuid,
    id: data.id,
    kind: p.kind,
    labelId: p.label ? p.label.id : null,
    name: p.name || "",
    comment: p.comment || "",
    version: p.version,
    deleted: Boolean(p.deleted),
    author: p.author,
    updatedAt: p.updated_at,
    areaPx: p.area_px,
    areaUm2: p.area_um2,
    lengthPx: p.length_px,
    lengthUm: p.length_um,
  };
  setGeometry(feature, data.geometry);
  return feature;
}

export class FeatureStore {
  constructor() {
    this.features = new Map();
    this.clusters = [];
    this.reduced = false;
    this.total = 0;
    this.listeners = new Set();
  }

  get(uuid) {
    return this.features.get(uuid);
  }

  /** Live (not deleted) features. */
  *live() {
    for (const feature of this.features.values()) if (!feature.deleted) yield feature;
  }

  get liveCount() {
    let count = 0;
    for (const feature of this.features.values()) if (!feature.deleted) count += 1;
    return count;
  }

  put(feature) {
    this.features.set(feature.uuid, feature);
  }

  /** Merge a loaded page, keeping the local copy of anything with unsaved changes. */
  merge(features, isPending) {
    for (const data of features) {
      const uuid = data.properties.uuid;
      const known = this.features.get(uuid);
      if (isPending(uuid)) continue;
      if (known && known.version > data.properties.version) continue;
      this.features.set(uuid, fromServer(data));
    }
  }

  onChange(listener) {
    this.listeners.add(listener);
  }

  changed(what = {}) {
    for (const listener of this.listeners) listener(what);
  }
}

/**
 * Undo and redo. Each entry is a list of steps {type: "create"|"update"|"delete", uuid,
 * before, after} (a list, because one eraser stroke can change several annotations).
 */
export class History {
  constructor() {
    this.done = [];
    this.undone = [];
    this.listeners = new Set();
  }

  push(steps) {
    if (!steps.length) return;
    this.done.push(steps);
    this.undone = [];
    this.notify();
  }

  takeUndo() {
    const steps = this.done.pop();
    if (steps) this.undone.push(steps);
    this.notify();
    return steps;
  }

  takeRedo() {
    const steps = this.undone.pop();
    if (steps) this.done.push(steps);
    this.notify();
    return steps;
  }

  notify() {
    for (const listener of this.listeners) listener(this);
  }
}
