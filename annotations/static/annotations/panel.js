/*
 * The editor's controls: the tool bar (tools, label, brush size, undo and redo, save state)
 * and the side panel (labels with visibility and statistics, display settings, the selected
 * annotation's fields, the list of loaded annotations), plus the conflict dialog.
 * The markup is server-rendered in annotations/work.html; this module wires it.
 */

import { verdictBadge } from "./feedback.js";
import { TOOLS } from "./tools.js";

const LIST_LIMIT = 200;
/** The names people see for each kind of shape (also on the review page). */
export const KIND_NAMES = {
  polygon: "Polygon",
  freehand: "Freehand",
  rectangle: "Rectangle",
  ellipse: "Ellipse",
  point: "Point",
  line: "Line",
  brush: "Brush",
};
const SAVE_TEXT = {
  saved: "Saved",
  saving: "Saving…",
  failed: "Failed – retrying",
  offline: "Offline",
};

const byId = (id) => document.getElementById(id);

/**
 * The lines a (non-point) geometry's outline is drawn from: a LineString's one, a Polygon's
 * rings, a MultiPolygon's rings of every part; each a list of [x, y] (also on the review page).
 */
export function outlineOf(geometry) {
  if (geometry.type === "LineString") return [geometry.coordinates];
  if (geometry.type === "Polygon") return geometry.coordinates;
  return geometry.coordinates.flat();
}

export class Panel {
  constructor(editor) {
    this.editor = editor;
    this.refreshTimer = null;
    this.shownSelected = undefined;
    this.setUpToolbar();
    this.setUpLabels();
    this.setUpDisplay();
    this.setUpSelected();
    this.setUpList();
    this.conflict = byId("conflict-modal");
    byId("editor-message")
      .querySelector(".btn-close")
      .addEventListener("click", () => {
        byId("editor-message").hidden = true;
      });
    editor.history.listeners.add(() => this.showHistory());
    editor.tools.onChange(() => this.showTool());
    this.showTool();
    this.showHistory();
    this.showLabel(editor.currentLabel);
    if (editor.readOnly) document.body.dataset.saveState = "saved";
  }

  // ---- tool bar -------------------------------------------------------------------------

  setUpToolbar() {
    const { editor } = this;
    for (const button of document.querySelectorAll("[data-tool]")) {
      button.addEventListener("click", () => editor.tools.setTool(button.dataset.tool));
      const tool = TOOLS[button.dataset.tool];
      if (tool) button.setAttribute("aria-keyshortcuts", tool.key.toUpperCase());
    }
    byId("undo-button")?.addEventListener("click", () => editor.undo());
    byId("redo-button")?.addEventListener("click", () => editor.redo());
    const size = byId("brush-size-input");
    const unit = byId("brush-unit");
    if (size) {
      size.addEventListener("input", () => editor.tools.setBrushSize(Number(size.value) || 1));
      unit.addEventListener("change", () => {
        editor.tools.brush.unit = unit.value;
        editor.overlay.requestTop();
      });
      if (!(editor.config.mpp > 0)) unit.querySelector("option[value=um]").disabled = true;
    }
    const { Tooltip } = window.bootstrap || {};
    if (Tooltip) {
      for (const element of document.querySelectorAll("#editor-toolbar [title]")) {
        Tooltip.getOrCreateInstance(element, { trigger: "hover" });
      }
    }
  }

  showTool() {
    const tools = this.editor.tools;
    for (const button of document.querySelectorAll("[data-tool]")) {
      const active = button.dataset.tool === tools.tool;
      button.classList.toggle("active", active);
      button.setAttribute("aria-pressed", String(active));
    }
    const brush = byId("brush-size");
    if (brush) {
      brush.hidden = tools.tool !== "brush" && tools.tool !== "eraser";
      const input = byId("brush-size-input");
      if (document.activeElement !== input) input.value = String(tools.brush.size);
      byId("brush-size-output").textContent = String(tools.brush.size);
    }
  }

  showHistory() {
    const { history } = this.editor;
    const undo = byId("undo-button");
    const redo = byId("redo-button");
    // aria-disabled as well: some screen readers skip disabled buttons without saying so.
    for (const [button, off] of [
      [undo, !history.done.length],
      [redo, !history.undone.length],
    ]) {
      if (!button) continue;
      button.disabled = off;
      button.setAttribute("aria-disabled", String(off));
    }
  }

  showSaveState(state, queued) {
    document.body.dataset.saveState = state;
    const badge = byId("save-state");
    if (!badge) return;
    let text = SAVE_TEXT[state];
    if (state === "offline") text = `Offline – ${queued} change${queued === 1 ? "" : "s"} queued`;
    else if (state === "failed") text = `Failed – retrying (${queued} queued)`;
    badge.textContent = text;
    badge.className = `badge save-state save-state-${state}`;
  }

  // ---- labels ---------------------------------------------------------------------------

  setUpLabels() {
    const { editor } = this;
    for (const input of document.querySelectorAll("input[name=current-label]")) {
      input.addEventListener("change", () => editor.setLabel(Number(input.value)));
    }
    for (const row of document.querySelectorAll("#label-table [data-label-id]")) {
      const id = Number(row.dataset.labelId);
      row.querySelector("[data-visibility]").addEventListener("change", (event) => {
        if (event.target.checked) editor.display.hidden.delete(id);
        else editor.display.hidden.add(id);
        if (editor.display.hidden.has(editor.store.get(editor.selected)?.labelId))
          editor.selected = null;
        editor.changed();
      });
    }
  }

  showLabel(labelId) {
    for (const input of document.querySelectorAll("input[name=current-label]")) {
      input.checked = Number(input.value) === labelId;
    }
  }

  showStats(stats) {
    const { editor } = this;
    const byLabel = new Map(stats.labels.map((row) => [row.id, row]));
    // Points and lines have no area: they neither show one nor choose the column's unit.
    const areas = stats.labels
      .filter((row) => row.area_px > 0)
      .map((row) => ({ px: row.area_px, um2: row.area_um2 }));
    const unit = editor.areaUnit(areas);
    byId("area-heading").textContent = areas.length ? `Area (${unit})` : "Area";
    for (const row of document.querySelectorAll("#label-table [data-label-id]")) {
      const data = byLabel.get(Number(row.dataset.labelId));
      row.querySelector("[data-count]").textContent = data ? String(data.count) : "0";
      row.querySelector("[data-area]").textContent =
        data && data.area_px > 0 ? editor.areaIn(unit, data.area_px, data.area_um2) : "–";
    }
    const total = byId("stats-total");
    if (total) total.textContent = String(stats.total);
  }

  // ---- display --------------------------------------------------------------------------

  setUpDisplay() {
    const { editor } = this;
    const opacity = byId("fill-opacity");
    const width = byId("line-width");
    opacity.value = String(Math.round(editor.display.opacity * 100));
    width.value = String(editor.display.lineWidth);
    opacity.addEventListener("input", () => {
      editor.display.opacity = Number(opacity.value) / 100;
      editor.overlay.requestAll();
    });
    width.addEventListener("input", () => {
      editor.display.lineWidth = Number(width.value);
      editor.overlay.requestAll();
    });
  }

  // ---- the selected annotation ----------------------------------------------------------

  setUpSelected() {
    const { editor } = this;
    const commit = (changes) => {
      if (editor.selected) editor.update(editor.selected, changes);
    };
    byId("selected-label").addEventListener("change", (event) =>
      commit({ labelId: Number(event.target.value) }),
    );
    for (const field of ["name", "comment"]) {
      const input = byId(`selected-${field}`);
      input.addEventListener("change", () => {
        const feature = editor.store.get(editor.selected);
        if (feature && feature[field] !== input.value) commit({ [field]: input.value });
      });
    }
    byId("delete-button").addEventListener("click", () => {
      if (editor.selected) editor.remove(editor.selected);
    });
    if (editor.readOnly) {
      for (const element of byId("selected-annotation").querySelectorAll(
        "input, select, textarea, button",
      )) {
        element.disabled = true;
      }
    }
  }

  showSelected() {
    const { editor } = this;
    const box = byId("selected-annotation");
    const feature = editor.store.get(editor.selected);
    if (!feature || feature.deleted) {
      box.hidden = true;
      this.shownSelected = null;
      return;
    }
    box.hidden = false;
    byId("selected-kind").textContent = this.titleOf(feature);
    byId("selected-size").textContent = this.sizeOf(feature);
    const select = byId("selected-label");
    if (![...select.options].some((option) => Number(option.value) === feature.labelId)) {
      select.add(new Option(`Label ${feature.labelId} (archived)`, String(feature.labelId)));
    }
    select.value = String(feature.labelId);
    // Leave what the user is typing alone; refresh the fields when another shape is selected.
    for (const field of ["name", "comment"]) {
      const input = byId(`selected-${field}`);
      if (this.shownSelected !== feature.uuid || document.activeElement !== input)
        input.value = feature[field];
    }
    this.shownSelected = feature.uuid;
  }

  /** Its name, else its kind and number on the slide ("Rectangle 3"), never a database id. */
  titleOf(feature) {
    if (feature.local) return "Copy being corrected";
    if (feature.name) return `“${feature.name}”`;
    const kind = KIND_NAMES[feature.kind] || feature.kind;
    const number = this.editor.numberOf(feature);
    return number == null ? `${kind} (not saved yet)` : `${kind} ${number}`;
  }

  /** The server's area while the shape is as saved, else the one computed here. */
  areaOf(feature) {
    const fresh = feature.areaPx != null && Math.abs(feature.areaPx - feature.localAreaPx) < 1;
    return { px: feature.localAreaPx, um2: fresh ? feature.areaUm2 : null };
  }

  /** Its length or area; areas in ``unit`` when given (one unit for a whole list). */
  sizeOf(feature, unit) {
    const { editor } = this;
    if (feature.kind === "point") return "–";
    if (feature.kind === "line") return editor.formatLength(feature.localLengthPx);
    const { px, um2 } = this.areaOf(feature);
    return editor.formatArea(px, um2, unit);
  }

  // ---- list -----------------------------------------------------------------------------

  setUpList() {
    byId("annotation-list").addEventListener("click", (event) => {
      const button = event.target.closest("[data-uuid]");
      if (button) this.editor.zoomTo(button.dataset.uuid);
    });
  }

  /** Refresh the panel soon (many edits in a row cost one refresh). */
  refresh() {
    this.showSelected();
    if (this.refreshTimer) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      this.showList();
    }, 150);
  }

  showList() {
    const { editor } = this;
    const list = byId("annotation-list");
    const { reduced } = editor.store;
    const live = [...editor.store.live()].filter(
      (f) => !f.local && !editor.display.hidden.has(f.labelId) && (!reduced || f.touched),
    );
    const shown = live.slice(-LIST_LIMIT).reverse();
    const unit = editor.areaUnit(
      shown.filter((f) => f.kind !== "point" && f.kind !== "line").map((f) => this.areaOf(f)),
    );
    // A list that only changed its selection keeps its buttons: replacing them between a
    // press and its release (the 150 ms refresh after a key or an edit) sends the click to
    // the list instead, and the shape clicked is not selected.
    const rows = shown.map((feature) => this.listRow(feature, unit));
    const signature = rows.map((row) => row.key).join("\n");
    if (signature !== this.listSignature) {
      list.replaceChildren(...rows.map((row) => row.build()));
      this.listSignature = signature;
    }
    for (const button of list.querySelectorAll("[data-uuid]")) {
      if (button.dataset.uuid === editor.selected) button.setAttribute("aria-current", "true");
      else button.removeAttribute("aria-current");
    }
    let summary = `${live.length} in the loaded area`;
    if (live.length > LIST_LIMIT) summary += `; the ${LIST_LIMIT} most recent are listed`;
    if (reduced)
      summary = `Too many to show one by one here (about ${editor.store.total}): zoom in`;
    byId("annotation-count").textContent = summary;
  }

  /** One row of the list: what it shows (its key) and how to build it. */
  listRow(feature, unit) {
    const { editor } = this;
    const label = editor.labelById.get(feature.labelId);
    const title = `${this.titleOf(feature)} · ${label ? label.name : "?"}`;
    const size = this.sizeOf(feature, unit);
    const colour = editor.colourOf(feature.labelId);
    const verdicts = editor.feedback.get(feature.id) || [];
    const key = JSON.stringify([feature.uuid, title, size, colour, verdicts]);
    const build = () => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "annotation-item";
      button.dataset.uuid = feature.uuid;
      const swatch = document.createElement("span");
      swatch.className = "label-swatch";
      swatch.style.backgroundColor = colour;
      const text = document.createElement("span");
      text.className = "annotation-item-text";
      text.textContent = title;
      // The text is cut to the panel's width: the tooltip gives all of it.
      button.title = title;
      const sizeText = document.createElement("span");
      sizeText.className = "annotation-item-size";
      sizeText.textContent = size;
      button.append(swatch, text, sizeText);
      for (const verdict of verdicts) button.append(verdictBadge(verdict, editor.palette));
      item.append(button);
      return item;
    };
    return { key, build };
  }

  notice(message, kind) {
    const box = byId("editor-message");
    box.className = `alert alert-${kind} alert-dismissible small py-2 editor-message`;
    box.hidden = false;
    box.querySelector("[data-text]").textContent = message;
  }

  // ---- conflicts --------------------------------------------------------------------------

  /** Ask whether to keep the user's version or take the server's; resolves "mine" or "theirs". */
  askConflict(op, current, mine) {
    const { editor } = this;
    const modal = window.bootstrap.Modal.getOrCreateInstance(this.conflict);
    const theirs = current.properties;
    const describe = (target, data) => {
      const rows = target.querySelectorAll("dd");
      rows[0].textContent = data.label;
      rows[1].textContent = data.kind;
      rows[2].textContent = data.comment || "–";
      rows[3].textContent = data.state;
    };
    const labelName = (id) => editor.labelById.get(id)?.name || `Label ${id}`;
    describe(byId("conflict-theirs-facts"), {
      label: theirs.label ? theirs.label.name : "?",
      kind: KIND_NAMES[theirs.kind] || theirs.kind,
      comment: theirs.comment,
      state: theirs.deleted
        ? `deleted (version ${theirs.version})`
        : `version ${theirs.version}, by ${theirs.author}, ${theirs.updated_at}`,
    });
    describe(byId("conflict-mine-facts"), {
      label: mine ? labelName(mine.labelId) : "?",
      kind: mine ? KIND_NAMES[mine.kind] || mine.kind : "?",
      comment: mine ? mine.comment : "",
      state: op.op === "delete" ? "deleted by you" : "your change",
    });
    this.drawComparison(
      current.geometry,
      mine && !mine.deleted ? mine.geometry : null,
      theirs.label?.colour || "#888",
    );
    return new Promise((resolve) => {
      const choose = (choice) => () => {
        cleanup();
        modal.hide();
        resolve(choice);
      };
      const mineButton = byId("conflict-keep-mine");
      const theirsButton = byId("conflict-take-theirs");
      const onMine = choose("mine");
      const onTheirs = choose("theirs");
      const cleanup = () => {
        mineButton.removeEventListener("click", onMine);
        theirsButton.removeEventListener("click", onTheirs);
      };
      mineButton.addEventListener("click", onMine);
      theirsButton.addEventListener("click", onTheirs);
      modal.show();
    });
  }

  /** Both outlines, at one scale, side by side in the dialog's two canvases. */
  drawComparison(theirs, mine, colour) {
    const geometries = [theirs, mine].filter(Boolean);
    const xs = [];
    const ys = [];
    for (const geometry of geometries) {
      const flat = JSON.stringify(geometry.coordinates)
        .match(/-?[\d.]+(e-?\d+)?/g)
        .map(Number);
      for (let i = 0; i + 1 < flat.length; i += 2) {
        xs.push(flat[i]);
        ys.push(flat[i + 1]);
      }
    }
    const x0 = Math.min(...xs);
    const y0 = Math.min(...ys);
    const span = Math.max(Math.max(...xs) - x0, Math.max(...ys) - y0, 1);
    for (const [id, geometry, stroke] of [
      ["conflict-theirs-canvas", theirs, colour],
      ["conflict-mine-canvas", mine, "#0b5ed7"],
    ]) {
      const canvas = byId(id);
      const ctx = canvas.getContext("2d");
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      if (!geometry) continue;
      const size = canvas.width - 20;
      const map = ([x, y]) => [10 + ((x - x0) / span) * size, 10 + ((y - y0) / span) * size];
      ctx.lineWidth = 2;
      ctx.strokeStyle = stroke;
      ctx.fillStyle = stroke;
      ctx.globalAlpha = 1;
      if (geometry.type === "Point") {
        const [x, y] = map(geometry.coordinates);
        ctx.beginPath();
        ctx.arc(x, y, 5, 0, 2 * Math.PI);
        ctx.fill();
        continue;
      }
      const rings = outlineOf(geometry);
      ctx.beginPath();
      for (const ring of rings) {
        ring.forEach((position, i) => ctx[i ? "lineTo" : "moveTo"](...map(position)));
        if (geometry.type !== "LineString") ctx.closePath();
      }
      ctx.globalAlpha = 0.3;
      if (geometry.type !== "LineString") ctx.fill("evenodd");
      ctx.globalAlpha = 1;
      ctx.stroke();
    }
  }
}
