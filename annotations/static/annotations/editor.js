/*
 * The annotation editor of the work page: loads the annotations of the view from the JSON API
 * (docs/annotations-spec.md), draws them over the slide, lets the annotator draw and edit
 * them, and saves every change at once through an outbox that survives going offline.
 *
 * Reads #editor-config. For tests and benchmarks it keeps window.wsi2mlEditor and sets
 * document.body.dataset.annotationsReady = "1" once the first load is drawn, and
 * document.body.dataset.saveState = "saved" | "saving" | "failed" | "offline".
 */

import { Overlay } from "./overlay.js";
import { Panel } from "./panel.js";
import { FeatureStore, History, fromServer, newUuid, setGeometry, snapshotOf } from "./store.js";
import { Sync } from "./sync.js";
import { Tools } from "./tools.js";
import { bboxOf, drawingRings } from "./geometry.js";

const LOAD_DEBOUNCE_MS = 250;
const LOAD_LIMIT = 20000;
const STATS_DEBOUNCE_MS = 600;
// Beyond this many loaded annotations, those outside the loaded box are forgotten.
const KEEP_LOADED = 60000;

export class Editor {
  constructor(config, viewer) {
    this.config = config;
    this.viewer = viewer;
    this.readOnly = Boolean(config.readOnly);
    this.labels = config.labels;
    this.labelById = new Map(config.labels.map((label) => [label.id, label]));
    this.extraColours = new Map();
    this.currentLabel = config.labels.length ? config.labels[0].id : null;
    this.selected = null;
    this.display = { opacity: 0.3, lineWidth: 2, hidden: new Set() };
    this.store = new FeatureStore();
    this.history = new History();
    this.steps = null;
    this.loadLimit = LOAD_LIMIT; // tests lower it to see the reduced form
    this.loaded = null;
    this.loading = null;
    this.loadTimer = null;
    this.loadController = null;
    this.statsTimer = null;
    this.stats = null;
    // Every annotation id seen on this slide (loaded, saved, deleted since): see numberOf.
    this.knownIds = new Set();
    this.overlay = new Overlay(viewer, this);
    this.sync = this.readOnly ? null : this.makeSync();
    this.tools = new Tools(this);
    this.panel = new Panel(this);
    this.restoreOutbox();
    viewer.addHandler("animation-finish", () => this.scheduleLoad());
    viewer.addHandler("resize", () => this.scheduleLoad());
    this.whenOpen(() => {
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

  whenOpen(callback) {
    if (this.viewer.world.getItemCount()) callback();
    else this.viewer.addOnceHandler("open", callback);
  }

  makeSync() {
    const field = document.querySelector("input[name=csrfmiddlewaretoken]");
    // The cookie follows a new log-in in another tab; the page's field does not.
    const csrfToken = () => {
      const cookie = document.cookie.split("; ").find((part) => part.startsWith("csrftoken="));
      return cookie ? decodeURIComponent(cookie.slice("csrftoken=".length)) : field?.value || "";
    };
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
    const label = this.labelById.get(labelId);
    return label ? label.colour : this.extraColours.get(labelId) || "#888888";
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

  apply(feature, snapshot) {
    if (snapshot.geometry !== feature.geometry) setGeometry(feature, snapshot.geometry);
    feature.labelId = snapshot.labelId;
    feature.kind = snapshot.kind;
    feature.name = snapshot.name;
    feature.comment = snapshot.comment;
    feature.touched = true;
  }

  sendUpdate(feature, before, after) {
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
    this.sync.enqueue({ op: deleted ? "delete" : "restore", uuid: feature.uuid });
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
    const item = this.viewer.world.getItemAt(0);
    if (!feature || !item) return;
    const [x0, y0, x1, y1] = feature.bbox;
    const pad = Math.max(x1 - x0, y1 - y0, 64) * 0.5;
    const rect = item.imageToViewportRectangle(
      x0 - pad,
      y0 - pad,
      x1 - x0 + 2 * pad,
      y1 - y0 + 2 * pad,
    );
    this.viewer.viewport.fitBoundsWithConstraints(rect);
    this.select(uuid);
  }

  notice(message, kind = "warning") {
    this.panel.notice(message, kind);
  }

  // ---- answers of the server --------------------------------------------------------------

  saved(op, data, later) {
    const feature = this.store.get(op.uuid);
    if (data && data.properties) {
      if (data.properties.label)
        this.extraColours.set(data.properties.label.id, data.properties.label.colour);
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

  scheduleLoad() {
    clearTimeout(this.loadTimer);
    this.loadTimer = setTimeout(() => this.load(false), LOAD_DEBOUNCE_MS);
  }

  /** The view's bounding box padded by half its size on each side, within the slide. */
  wantedBox() {
    const [x0, y0, x1, y1] = this.overlay.viewBox();
    const padX = (x1 - x0) / 2;
    const padY = (y1 - y0) / 2;
    const { width, height } = this.config;
    return [
      Math.max(0, Math.floor(x0 - padX)),
      Math.max(0, Math.floor(y0 - padY)),
      Math.min(width, Math.ceil(x1 + padX)),
      Math.min(height, Math.ceil(y1 + padY)),
    ];
  }

  async load(first) {
    if (!this.overlay.updateMatrix()) return;
    this.overlay.fitCanvases();
    const view = this.overlay.viewBox();
    const scale = this.overlay.scale;
    const covers = (loaded) =>
      loaded &&
      loaded.box[0] <= Math.max(0, view[0]) &&
      loaded.box[1] <= Math.max(0, view[1]) &&
      loaded.box[2] >= Math.min(this.config.width, view[2]) &&
      loaded.box[3] >= Math.min(this.config.height, view[3]) &&
      (!loaded.reduced || Math.abs(Math.log(scale / loaded.scale)) < 0.2);
    // Nothing to do when what is loaded, or on its way, covers the view.
    if (!first && (covers(this.loaded) || covers(this.loading))) return;
    const box = this.wantedBox();
    if (this.loadController) this.loadController.abort();
    const controller = new AbortController();
    this.loadController = controller;
    // Whether the answer will be reduced is not known yet: assume so, which only matters
    // for zooming in while it is on its way.
    this.loading = { box, reduced: true, scale };
    const params = new URLSearchParams({
      bbox: box.join(","),
      assignment: String(this.config.assignmentId),
      limit: String(this.loadLimit),
    });
    let data;
    try {
      const response = await fetch(`${this.config.urls.annotations}?${params}`, {
        credentials: "same-origin",
        signal: controller.signal,
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      data = await response.json();
    } catch (error) {
      if (error.name === "AbortError") return;
      this.loading = null;
      console.warn("Could not load the annotations of the view:", error);
      this.loadTimer = setTimeout(() => this.load(first), 5000);
      return;
    }
    this.ingest(data, box);
    this.loaded = { box, reduced: data.reduced, scale };
    this.loading = null;
    this.changed();
    if (first) this.panel.showList();
    if (first || !document.body.dataset.annotationsReady) {
      this.overlay.whenDrawn(() => {
        document.body.dataset.annotationsReady = "1";
      });
    }
  }

  ingest(data, box) {
    const { store } = this;
    store.total = data.total;
    store.reduced = Boolean(data.reduced);
    if (data.reduced) {
      store.clusters = data.features.map((cell) => {
        const label = cell.properties.label;
        if (label) this.extraColours.set(label.id, label.colour);
        return {
          count: cell.properties.count,
          labelId: label ? label.id : null,
          colour: label ? label.colour : "#888888",
          bbox: bboxOf(cell.geometry),
          rings: drawingRings(cell.geometry),
        };
      });
      return;
    }
    store.clusters = [];
    for (const item of data.features) {
      if (item.id != null) this.knownIds.add(item.id);
      const label = item.properties.label;
      if (label && !this.labelById.has(label.id)) this.extraColours.set(label.id, label.colour);
    }
    store.merge(data.features, (uuid) => Boolean(this.sync && this.sync.isPending(uuid)));
    this.prune(box);
  }

  /** Forget untouched annotations far from the view once very many have been loaded. */
  prune(box) {
    const { features } = this.store;
    if (features.size <= KEEP_LOADED) return;
    for (const [uuid, feature] of features) {
      const [x0, y0, x1, y1] = feature.bbox;
      const away = x1 < box[0] || x0 > box[2] || y1 < box[1] || y0 > box[3];
      if (away && !feature.touched && uuid !== this.selected) features.delete(uuid);
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
      this.panel.showStats(this.stats);
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

function start() {
  const element = document.getElementById("editor-config");
  const state = window.wsi2mlViewer;
  if (!element || !state) return;
  const editor = new Editor(JSON.parse(element.textContent), state.viewer);
  window.wsi2mlEditor = {
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

start();
