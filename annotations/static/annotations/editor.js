/*
 * The annotation editor of the work page: loads the annotations of the view from the JSON API
 * (docs/annotations-spec.md), draws them over the slide, lets the annotator draw and edit
 * them, and saves every change at once through an outbox that survives going offline.
 *
 * The editor owns one layer of the overlay, the person's own assignment on the slide (its
 * features are the store's); the other layers of the page (other people's, corrections) are
 * drawn beside it, read-only, by their own loaders.
 *
 * Reads its config from #editor-config (given by the page's module). For tests and benchmarks
 * the page keeps window.wsi2mlEditor (editorHook) and the editor sets
 * document.body.dataset.annotationsReady = "1" once the first load is drawn, and
 * document.body.dataset.saveState = "saved" | "saving" | "failed" | "offline".
 */

import { flyToBox, whenOpen } from "../slides/viewer.js";
import { Layer, Palette, ViewportLoader } from "./layers.js";
import { Overlay } from "./overlay.js";
import { Panel } from "./panel.js";
import { FeatureStore, History, fromServer, newUuid, setGeometry, snapshotOf } from "./store.js";
import { Sync, csrfToken } from "./sync.js";
import { Tools } from "./tools.js";

const STATS_DEBOUNCE_MS = 600;

export class Editor {
  /**
   * @param config #editor-config (annotations.views.editor_config)
   * @param viewer OpenSeadragon viewer
   * @param {object} options palette and overlay shared with the page's other layers (made
   *   here when not given); layerName to call the editor's own layer something else.
   */
  constructor(config, viewer, { palette, overlay, layerName } = {}) {
    this.config = config;
    this.viewer = viewer;
    this.readOnly = Boolean(config.readOnly);
    this.labels = config.labels;
    this.labelById = new Map(config.labels.map((label) => [label.id, label]));
    this.palette = palette || new Palette(config.labels);
    this.currentLabel = config.labels.length ? config.labels[0].id : null;
    this.selected = null;
    this.store = new FeatureStore();
    this.history = new History();
    this.steps = null;
    this.statsTimer = null;
    this.stats = null;
    // Every annotation id seen on this slide (loaded, saved, deleted since): see numberOf.
    this.knownIds = new Set();
    // Verdicts of reviewers on this layer's annotations, by annotation id (feedback.js).
    this.feedback = new Map();
    // Told the slide's counts whenever they have been counted again (the layer panel's).
    this.onStats = () => {};
    // Called after each load of the view.
    this.loadListeners = [];
    // Called with the slide position of a click that selected nothing of this layer.
    this.onEmptyClick = () => {};
    this.overlay = overlay || new Overlay(viewer, { palette: this.palette });
    this.display = this.overlay.display;
    this.layer = this.overlay.addLayer(this.makeLayer(layerName));
    this.loader = new ViewportLoader({
      layer: this.layer,
      viewer,
      overlay: this.overlay,
      size: { width: config.width, height: config.height },
      url: this.layer.featuresUrl,
      palette: this.palette,
      isPending: (uuid) => Boolean(this.sync && this.sync.isPending(uuid)),
      onFeatures: (features) => {
        for (const item of features) if (item.id != null) this.knownIds.add(item.id);
      },
      onLoaded: (first) => this.loadedView(first),
    });
    this.sync = this.readOnly ? null : this.makeSync();
    this.tools = new Tools(this);
    this.panel = new Panel(this);
    this.restoreOutbox();
    whenOpen(viewer, () => {
      this.load(true);
      this.refreshStats();
    });
    window.addEventListener("beforeunload", (event) => {
      if (this.sync && this.sync.queued) {
        event.preventDefault();
        event.returnValue = "";
      }
    });
  }

  /** The editor's own layer: the assignment's, as the page's layers describe it. */
  makeLayer(name) {
    const { config } = this;
    const json = (config.layers || []).find((layer) => layer.assignment === config.assignmentId);
    const url = new URL(config.urls.annotations, window.location.href);
    url.searchParams.set("assignment", String(config.assignmentId));
    const layer = new Layer({
      id: `assignment-${config.assignmentId}`,
      name: "Yours",
      own: true,
      ...(json ? Layer.optionsFromJson(json) : {}),
      featuresUrl: json?.featuresUrl || url.pathname + url.search,
      store: this.store,
      editable: !this.readOnly,
      readOnlyReason: this.readOnly ? config.readOnlyReason : "",
      skip: (feature) => feature.uuid === this.selected,
    });
    if (name) layer.name = name;
    return layer;
  }

  /** How many annotations the loader may take before asking for the reduced form. */
  get loadLimit() {
    return this.loader.limit;
  }

  set loadLimit(limit) {
    this.loader.limit = limit; // tests lower it to see the reduced form
  }

  makeSync() {
    return new Sync({
      urls: this.config.urls,
      assignmentId: this.config.assignmentId,
      slideId: this.config.slideId,
      csrfToken,
      versionOf: (uuid) => this.store.get(uuid)?.version,
      idOf: (uuid) => this.store.get(uuid)?.id,
      snapshot: (uuid) => {
        const f = this.store.get(uuid);
        if (!f) return null;
        const { id, kind, labelId, name, comment, version, deleted, geometry } = f;
        return { uuid, id, kind, labelId, name, comment, version, deleted, geometry };
      },
      onSaved: (op, data, later) => this.saved(op, data, later),
      onRejected: (op, error) => this.rejected(op, error),
      onConflict: (op, current) => this.panel.askConflict(op, current, this.store.get(op.uuid)),
      onState: (state, queued) => this.panel.showSaveState(state, queued),
    });
  }

  /** Show what the outbox still holds from an earlier visit, and send it. */
  restoreOutbox() {
    if (!this.sync) return;
    for (const saved of Object.values(this.sync.features)) {
      if (!saved) continue;
      const feature = { ...saved, touched: true };
      if (feature.id != null) this.knownIds.add(feature.id);
      setGeometry(feature, saved.geometry);
      this.store.put(feature);
    }
    this.sync.kick();
  }

  // ---- labels and display -----------------------------------------------------------------

  colourOf(labelId) {
    return this.palette.colourOf(labelId);
  }

  /** The colour the overlay gives this layer's shapes of the label (by label or by person). */
  drawingColour(labelId) {
    return this.overlay.colourOf(this.layer, labelId);
  }

  labelForKey(key) {
    const byShortcut = this.labels.find(
      (label) => label.shortcut && label.shortcut.toLowerCase() === key.toLowerCase(),
    );
    if (byShortcut) return byShortcut;
    if (/^[1-9]$/.test(key)) {
      const label = this.labels[Number(key) - 1];
      if (label && !label.shortcut) return label;
    }
    return null;
  }

  setLabel(labelId) {
    if (!this.labelById.has(labelId)) return;
    this.currentLabel = labelId;
    this.panel.showLabel(labelId);
    this.overlay.requestTop();
  }

  changed() {
    this.overlay.requestAll();
    this.panel.refresh();
  }

  // ---- edits ------------------------------------------------------------------------------

  record(step) {
    if (this.steps) this.steps.push(step);
    else this.history.push([step]);
  }

  /** Run fn, making all its edits one undo step. */
  group(fn) {
    this.steps = [];
    try {
      fn();
    } finally {
      const steps = this.steps;
      this.steps = null;
      this.history.push(steps);
    }
  }

  createBody(feature) {
    return {
      type: "Feature",
      geometry: feature.geometry,
      properties: {
        assignment: this.config.assignmentId,
        label: feature.labelId,
        kind: feature.kind,
        name: feature.name,
        comment: feature.comment,
        uuid: feature.uuid,
      },
    };
  }

  create(kind, geometry) {
    if (this.readOnly || this.currentLabel == null) return null;
    const feature = {
      uuid: newUuid(),
      id: null,
      kind,
      labelId: this.currentLabel,
      name: "",
      comment: "",
      version: 0,
      deleted: false,
      touched: true,
    };
    setGeometry(feature, geometry);
    this.store.put(feature);
    this.record({ type: "create", uuid: feature.uuid, after: snapshotOf(feature) });
    this.sync.enqueue({ op: "create", uuid: feature.uuid, body: this.createBody(feature) });
    this.selected = feature.uuid;
    this.changed();
    return feature;
  }

  /**
   * Put a copy of a geometry up for editing with the normal tools, selected: the page's to save
   * (a reviewer's corrected region), never an annotation of this layer (not sent, not listed).
   */
  startCopy({ geometry, kind, labelId }) {
    const feature = {
      uuid: `copy-${newUuid()}`,
      id: null,
      kind,
      labelId,
      name: "",
      comment: "",
      version: 0,
      deleted: false,
      touched: true,
      local: true,
    };
    setGeometry(feature, geometry);
    this.store.put(feature);
    this.selected = feature.uuid;
    this.tools.vertex = null;
    this.changed();
    return feature;
  }

  endCopy(uuid) {
    this.store.features.delete(uuid);
    if (this.selected === uuid) this.selected = null;
    this.tools.cancel();
    this.changed();
  }

  apply(feature, snapshot) {
    if (snapshot.geometry !== feature.geometry) setGeometry(feature, snapshot.geometry);
    feature.labelId = snapshot.labelId;
    feature.kind = snapshot.kind;
    feature.name = snapshot.name;
    feature.comment = snapshot.comment;
    feature.touched = true;
  }

  sendUpdate(feature, before, after) {
    if (feature.local) return;
    const body = {};
    const properties = {};
    if (after.geometry !== before.geometry) body.geometry = after.geometry;
    if (after.labelId !== before.labelId) properties.label = after.labelId;
    for (const key of ["kind", "name", "comment"]) {
      if (after[key] !== before[key]) properties[key] = after[key];
    }
    if (Object.keys(properties).length) body.properties = properties;
    if (Object.keys(body).length) this.sync.enqueue({ op: "update", uuid: feature.uuid, body });
  }

  update(uuid, changes) {
    const feature = this.store.get(uuid);
    if (this.readOnly || !feature || feature.deleted) return;
    const before = snapshotOf(feature);
    const after = { ...before, ...changes };
    this.apply(feature, after);
    this.record({ type: "update", uuid, before, after });
    this.sendUpdate(feature, before, after);
    this.changed();
  }

  setDeleted(feature, deleted) {
    feature.deleted = deleted;
    feature.touched = true;
    if (!feature.local) this.sync.enqueue({ op: deleted ? "delete" : "restore", uuid: feature.uuid });
    if (deleted && this.selected === feature.uuid) this.selected = null;
  }

  remove(uuid) {
    const feature = this.store.get(uuid);
    if (this.readOnly || !feature || feature.deleted) return;
    this.setDeleted(feature, true);
    this.record({ type: "delete", uuid, before: snapshotOf(feature) });
    this.changed();
  }

  undo() {
    this.replay(this.history.takeUndo(), true);
  }

  redo() {
    this.replay(this.history.takeRedo(), false);
  }

  replay(steps, backwards) {
    if (!steps || this.readOnly) return;
    this.tools.cancel();
    const ordered = backwards ? [...steps].reverse() : steps;
    for (const step of ordered) {
      const feature = this.store.get(step.uuid);
      if (!feature) continue;
      if (step.type === "update") {
        const before = snapshotOf(feature);
        const target = backwards ? step.before : step.after;
        this.apply(feature, target);
        this.sendUpdate(feature, before, target);
      } else {
        // Undoing a create deletes; undoing a delete restores; redo does the opposite.
        const deleted = (step.type === "create") === backwards;
        if (feature.deleted !== deleted) this.setDeleted(feature, deleted);
      }
      if (!feature.deleted) this.selected = feature.uuid;
    }
    this.changed();
  }

  select(uuid) {
    if (this.selected === uuid) return;
    this.selected = uuid;
    this.tools.vertex = null;
    this.changed();
  }

  zoomTo(uuid) {
    const feature = this.store.get(uuid);
    if (!feature) return;
    this.flyToBox(feature.bbox);
    this.select(uuid);
  }

  /** Show the box (level-0 px) with half its size around it. */
  flyToBox(bbox) {
    flyToBox(this.viewer, bbox);
  }

  notice(message, kind = "warning") {
    this.panel.notice(message, kind);
  }

  // ---- answers of the server --------------------------------------------------------------

  saved(op, data, later) {
    const feature = this.store.get(op.uuid);
    if (data && data.properties) {
      this.palette.learn(data.properties.label);
      const server = fromServer(data);
      if (server.id != null) this.knownIds.add(server.id);
      if (!feature || op.op === "take" || !later.length) {
        // Nothing newer is queued: the server's copy (rounded, clipped, repaired) is the truth.
        server.touched = true;
        this.store.put(server);
        if (op.op === "take" && server.deleted && this.selected === server.uuid)
          this.selected = null;
      } else {
        Object.assign(feature, {
          id: server.id,
          version: server.version,
          areaPx: server.areaPx,
          areaUm2: server.areaUm2,
          lengthPx: server.lengthPx,
          lengthUm: server.lengthUm,
        });
      }
      if (data.properties.repaired)
        this.notice(`The server repaired the shape: ${data.properties.repaired}`, "info");
    }
    this.changed();
    this.scheduleStats();
  }

  rejected(op, error) {
    this.notice(`A change was not saved: ${error.message}`, "danger");
    const feature = this.store.get(op.uuid);
    if (!feature) return;
    if (op.op === "create") {
      this.store.features.delete(op.uuid);
      if (this.selected === op.uuid) this.selected = null;
      this.changed();
    } else if (feature.id != null) {
      this.fetchOne(feature.id);
    }
  }

  async fetchOne(id) {
    try {
      const response = await fetch(`${this.config.urls.annotation}${id}`, {
        credentials: "same-origin",
      });
      if (!response.ok) return;
      const server = fromServer(await response.json());
      this.knownIds.add(server.id);
      server.touched = true;
      this.store.put(server);
      this.changed();
    } catch (error) {
      console.warn("Could not reload annotation", id, error);
    }
  }

  // ---- loading by viewport ----------------------------------------------------------------

  /** Load the annotations of the view (``first``: even when what is loaded covers it). */
  load(first) {
    return this.loader.load(first);
  }

  loadedView(first) {
    this.changed();
    if (first) this.panel.showList();
    for (const listener of this.loadListeners) listener(first);
    if (first || !document.body.dataset.annotationsReady) {
      this.overlay.whenDrawn(() => {
        document.body.dataset.annotationsReady = "1";
      });
    }
  }

  // ---- statistics -------------------------------------------------------------------------

  scheduleStats() {
    clearTimeout(this.statsTimer);
    this.statsTimer = setTimeout(() => this.refreshStats(), STATS_DEBOUNCE_MS);
  }

  async refreshStats() {
    const params = new URLSearchParams({ assignment: String(this.config.assignmentId) });
    try {
      const response = await fetch(`${this.config.urls.stats}?${params}`, {
        credentials: "same-origin",
      });
      if (!response.ok) return;
      this.stats = await response.json();
      this.layer.count = this.stats.total;
      this.panel.showStats(this.stats);
      this.onStats(this.stats);
    } catch (error) {
      console.warn("Could not load the statistics:", error);
    }
  }

  formatLength(px) {
    const mpp = this.config.mpp;
    if (!(mpp > 0)) return `${Math.round(px)} px`;
    const microns = px * mpp;
    return microns >= 1000 ? `${(microns / 1000).toFixed(2)} mm` : `${microns.toFixed(1)} µm`;
  }

  /** The area in µm² when the slide has a scale, else null (then areas are in px²). */
  areaUm2(px, um2) {
    const mpp = this.config.mpp;
    return um2 ?? (mpp > 0 ? px * mpp * mpp : null);
  }

  /**
   * One unit for a column of areas ({px, um2} each), chosen by its largest value: µm² below
   * 1 mm² (1e6 µm², six digits at most), mm² from there on, px² without a scale. One unit per
   * column lets values be compared at a glance; 0.128 mm² beside 79,921 µm² could not be.
   */
  areaUnit(areas) {
    if (!(this.config.mpp > 0)) return "px²";
    const largest = Math.max(0, ...areas.map(({ px, um2 }) => this.areaUm2(px, um2) ?? 0));
    return largest >= 1e6 ? "mm²" : "µm²";
  }

  /** The number of an area in a unit of areaUnit, without the unit. */
  areaIn(unit, px, um2) {
    if (unit === "px²") return Math.round(px).toLocaleString("en");
    const microns = this.areaUm2(px, um2);
    if (unit === "mm²") {
      return microns > 0 && microns < 500 ? "< 0.001" : (microns / 1e6).toFixed(3);
    }
    return microns > 0 && microns < 0.5 ? "< 1" : Math.round(microns).toLocaleString("en");
  }

  formatArea(px, um2, unit = this.areaUnit([{ px, um2 }])) {
    return `${this.areaIn(unit, px, um2)} ${unit}`;
  }

  /**
   * The annotation's number on the slide: its rank by id (creation order) among the ids the
   * editor has seen on this slide. The first load covers the whole slide (the page opens at
   * the home view), so this is the rank among all the slide's annotations of the assignment,
   * the same after a reload; ids seen stay, so deleting or panning renumbers nothing during a
   * visit. Null before the server gave it an id.
   */
  numberOf(feature) {
    if (feature.id == null) return null;
    let rank = 0;
    for (const id of this.knownIds) if (id <= feature.id) rank += 1;
    return rank;
  }

  /** A summary for browser tests and benchmarks. */
  summary() {
    return {
      features: this.store.liveCount,
      loaded: this.store.features.size,
      reduced: this.store.reduced,
      clusters: this.store.clusters.length,
      colourBy: this.display.colourBy,
      drawnCount: this.overlay.drawnCount,
      frames: this.overlay.frames,
      lastFrameMs: this.overlay.lastBaseMs,
      saveState: this.sync ? this.sync.state : "saved",
      queued: this.sync ? this.sync.queued : 0,
      selected: this.selected,
      tool: this.tools.tool,
      label: this.currentLabel,
      undo: this.history.done.length,
      redo: this.history.undone.length,
      ruler: this.tools.ruler ? this.tools.ruler.text : null,
    };
  }
}

/** The test hook the page keeps as window.wsi2mlEditor. */
export function editorHook(editor) {
  return {
    editor,
    store: editor.store,
    summary: () => editor.summary(),
    features: () =>
      [...editor.store.live()].map((f) => ({
        uuid: f.uuid,
        id: f.id,
        kind: f.kind,
        label: f.labelId,
        bbox: f.bbox,
      })),
    get drawnCount() {
      return editor.overlay.drawnCount;
    },
    get saveState() {
      return editor.sync ? editor.sync.state : "saved";
    },
    toScreen: (x, y) => {
      editor.overlay.updateMatrix();
      const [sx, sy] = editor.overlay.toScreen(x, y);
      const rect = editor.viewer.canvas.getBoundingClientRect();
      return [sx + rect.left, sy + rect.top];
    },
  };
}
