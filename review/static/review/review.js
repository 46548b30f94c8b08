/*
 * The reviewer's work page (review/work.html): the annotation editor on the reviewer's own layer
 * (their review assignment: missed regions, "added in review"), the annotators' layers under
 * review beside it, and the review itself: the annotations under review one by one (next and
 * previous, the viewer flying to each and highlighting it), one-key verdicts (A agree, L wrong
 * label, R wrong region on a copy edited with the editor's tools, X reject, C comment), the
 * progress, corrected regions drawn dashed over the originals, marking the slide reviewed and
 * sending it back with a note. The JSON API is review_api's (review/api_urls.py).
 *
 * Reads #review-config (review.selectors.review_config) and #editor-config. For browser tests it
 * keeps window.wsi2mlReview and sets document.body.dataset.reviewReady = "1" once started and
 * document.body.dataset.verdictState = "saved" | "saving" | "failed" | "offline".
 */

import { verdictText } from "../annotations/feedback.js";
import { hits } from "../annotations/geometry.js";
import { correctionsLayer, pageJson, setCorrections } from "../annotations/layers.js";
import { KIND_NAMES, outlineOf } from "../annotations/panel.js";
import { HttpError, jsonRequest } from "../annotations/sync.js";
import { isTyping } from "../annotations/tools.js";
import { startWorkPage } from "../annotations/workpage.js";
import { VerdictQueue } from "./verdicts.js";

const SAVE_TEXT = {
  saved: "Verdicts saved",
  saving: "Saving verdicts…",
  failed: "Verdicts failed – retrying",
  offline: "Offline – verdicts queued",
};
const HIGHLIGHT = "#ffd400";
// Vertex editing works on polygons; an ellipse is a polygon of 64 corners once corrected.
const COPY_KINDS = { ellipse: "polygon" };

const byId = (id) => document.getElementById(id);

export class Review {
  constructor({ config, page }) {
    this.config = config;
    this.editor = page.editor;
    this.overlay = page.overlay;
    this.palette = page.palette;
    this.layerPanel = page.layerPanel;
    this.items = config.items;
    this.byAnnotation = new Map(this.items.map((item) => [item.annotation, item]));
    this.numbers = this.numberItems();
    this.reviewed = config.reviewed;
    this.total = config.total;
    this.state = config.slide.state;
    this.index = -1;
    this.geometries = new Map();
    this.copy = null;
    this.picking = false;
    for (const label of config.labels) this.palette.learn(label);
    this.queue = new VerdictQueue({
      key: `wsi2ml-verdicts:${config.reviewAssignmentId}`,
      urlOf: (annotation) => `${config.urls.verdict}${annotation}/verdict`,
      onSaved: (op, answer) => this.saved(op, answer),
      onRejected: (op, error) => this.rejected(op, error),
      onState: (state, queued) => this.showSaveState(state, queued),
    });
    this.corrections = correctionsLayer({
      id: "corrections",
      name: "Your corrected regions",
      colour: HIGHLIGHT,
    });
    this.overlay.addLayer(this.corrections, 1);
    this.layerPanel.addLayer(this.corrections);
    this.overlay.addPainter((ctx) => this.drawHighlight(ctx));
    this.editor.onEmptyClick = (position) => this.pickAt(position);
    this.wire();
    this.replayQueue();
    this.showCorrections();
    this.go(this.firstIndex(), { fly: false });
    this.showProgress();
    this.showSentBack();
    document.body.dataset.reviewReady = "1";
  }

  // ---- state ------------------------------------------------------------------------------

  /** Each item's number among its annotator's (items come ordered by annotator, then id). */
  numberItems() {
    const numbers = new Map();
    const seen = new Map();
    for (const item of this.items) {
      const n = (seen.get(item.assignment) || 0) + 1;
      seen.set(item.assignment, n);
      numbers.set(item.annotation, n);
    }
    return numbers;
  }

  current() {
    return this.items[this.index] || null;
  }

  /** Why verdicts cannot be given now ("" when they can). */
  refusal() {
    if (this.state === "done") {
      return "This slide is marked reviewed: reopen it to change your verdicts.";
    }
    if (this.editor.readOnly) {
      return this.editor.config.readOnlyReason || "This review cannot be changed now.";
    }
    return "";
  }

  /** Set an item's verdict as the page shows it, keeping the count of those reviewed. */
  setVerdict(item, verdict) {
    if (Boolean(item.verdict) !== Boolean(verdict)) this.reviewed += verdict ? 1 : -1;
    item.verdict = verdict;
    if (item === this.current()) this.showItem();
    this.showProgress();
    this.showCorrections();
  }

  /** Show what the outbox still holds from an earlier visit as given, and send it. */
  replayQueue() {
    for (const op of this.queue.ops) {
      const item = this.byAnnotation.get(op.annotation);
      if (!item) continue;
      if (op.method === "DELETE") this.setVerdict(item, null);
      else if (op.method === "PUT") this.setVerdict(item, this.localVerdict(op.body));
      else if (item.verdict) this.setVerdict(item, { ...item.verdict, ...op.body });
    }
    this.queue.kick();
  }

  localVerdict(body) {
    return {
      id: null,
      verdict: body.verdict,
      label: body.label ?? null,
      geometry: body.geometry ?? null,
      comment: body.comment || "",
      reviewer: "you",
      pending: true,
    };
  }

  // ---- stepping ---------------------------------------------------------------------------

  onlyUnreviewed() {
    return byId("review-unreviewed-only").checked;
  }

  firstIndex() {
    const open = this.items.findIndex((item) => !item.verdict);
    return open >= 0 ? open : this.items.length ? 0 : -1;
  }

  /** Go ``step`` items on (or back), skipping those reviewed when the filter says so. */
  step(step) {
    if (!this.items.length) return this.notice("There is nothing to review on this slide.");
    const n = this.items.length;
    const start = this.index < 0 ? (step > 0 ? -1 : 0) : this.index;
    for (let k = 1; k <= n; k++) {
      const index = (((start + step * k) % n) + n) % n;
      if (!this.onlyUnreviewed() || !this.items[index].verdict) return this.go(index);
    }
    return this.notice("Every annotation here has a verdict.", "success");
  }

  go(index, { fly = true } = {}) {
    this.cancelCorrection();
    this.closePicker();
    this.index = index;
    const item = this.current();
    this.showItem();
    if (!item) return;
    if (fly) this.editor.flyToBox(item.bbox);
    this.loadGeometry(item);
    this.overlay.requestTop();
  }

  /** The original geometry of an item: from a loaded layer, else the annotations API. */
  async loadGeometry(item) {
    if (this.geometries.has(item.annotation)) return this.geometries.get(item.annotation);
    for (const layer of this.overlay.layers) {
      if (layer.kind !== "annotations" || layer.own) continue;
      for (const feature of layer.store.features.values()) {
        if (feature.id === item.annotation && !feature.deleted) {
          this.geometries.set(item.annotation, feature.geometry);
          return feature.geometry;
        }
      }
    }
    const response = await fetch(`${this.editor.config.urls.annotation}${item.annotation}`, {
      credentials: "same-origin",
    });
    if (!response.ok) throw new HttpError(response.status, await response.json().catch(() => null));
    const geometry = (await response.json()).geometry;
    this.geometries.set(item.annotation, geometry);
    this.overlay.requestTop();
    return geometry;
  }

  /** A click on nothing of one's own layer: the smallest annotation under review there. */
  pickAt([x, y]) {
    const tolerance = 6 / this.overlay.scale;
    let best = null;
    let bestArea = Infinity;
    for (const layer of this.overlay.layers) {
      if (layer.kind !== "annotations" || layer.own || !layer.visible) continue;
      for (const feature of layer.store.live()) {
        const item = this.byAnnotation.get(feature.id);
        const [x0, y0, x1, y1] = feature.bbox;
        if (!item || x < x0 - tolerance || x > x1 + tolerance) continue;
        if (y < y0 - tolerance || y > y1 + tolerance) continue;
        const area = (x1 - x0) * (y1 - y0);
        if (area < bestArea && hits(feature.geometry, x, y, tolerance)) {
          best = item;
          bestArea = area;
        }
      }
    }
    if (best) this.go(this.items.indexOf(best), { fly: false });
  }

  // ---- verdicts ---------------------------------------------------------------------------

  /** Give the current item a verdict; the comment box's text goes with it. */
  give(kind, extra = {}) {
    const item = this.current();
    if (!item) return this.notice("There is nothing to review on this slide.");
    const refusal = this.refusal();
    if (refusal) return this.notice(refusal);
    const body = { verdict: kind, ...extra };
    const comment = byId("review-comment").value.trim();
    if (comment) body.comment = comment;
    this.queue.enqueue({ method: "PUT", annotation: item.annotation, body });
    this.setVerdict(item, this.localVerdict(body));
    if (byId("review-advance").checked) this.step(1);
  }

  saveComment() {
    const item = this.current();
    if (!item) return;
    const refusal = this.refusal();
    if (refusal) return this.notice(refusal);
    const comment = byId("review-comment").value.trim();
    if (!item.verdict) {
      return this.notice("Give a verdict first: the comment goes with it.", "info");
    }
    this.queue.enqueue({ method: "PATCH", annotation: item.annotation, body: { comment } });
    this.setVerdict(item, { ...item.verdict, comment, pending: true });
  }

  withdraw() {
    const item = this.current();
    if (!item || !item.verdict) return;
    const refusal = this.refusal();
    if (refusal) return this.notice(refusal);
    this.queue.enqueue({ method: "DELETE", annotation: item.annotation });
    this.setVerdict(item, null);
  }

  saved(op, answer) {
    const item = this.byAnnotation.get(op.annotation);
    if (!item) return;
    // Something newer of this annotation still waits: the page already shows it.
    if (this.queue.pendingFor(op.annotation).length) return;
    this.setVerdict(item, op.method === "DELETE" ? null : answer);
    if (answer && answer.repaired) {
      this.notice(`The server repaired the corrected region: ${answer.repaired}`, "info");
    }
  }

  rejected(op, error) {
    const what = op.method === "DELETE" ? "withdrawn" : "saved";
    this.notice(`A verdict was not ${what}: ${error.message}`, "danger");
    this.reload();
  }

  /** Take the items and the slide's state from the server again. */
  async reload() {
    try {
      const response = await fetch(this.config.urls.items, { credentials: "same-origin" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const data = await response.json();
      for (const fresh of data.items) {
        const item = this.byAnnotation.get(fresh.annotation);
        if (item && !this.queue.pendingFor(fresh.annotation).length) item.verdict = fresh.verdict;
      }
      this.reviewed = data.reviewed;
      this.total = data.total;
      this.state = data.slide.state;
      this.showItem();
      this.showProgress();
      this.showCorrections();
    } catch (error) {
      this.notice(`The review could not be reloaded (${error.message}): reload the page.`, "danger");
    }
  }

  // ---- wrong label: the label picker -------------------------------------------------------

  openPicker() {
    const item = this.current();
    if (!item) return;
    const refusal = this.refusal();
    if (refusal) return this.notice(refusal);
    this.cancelCorrection();
    this.picking = true;
    const picker = byId("review-label-picker");
    picker.hidden = false;
    let first = null;
    for (const button of picker.querySelectorAll("[data-relabel]")) {
      const same = Number(button.dataset.relabel) === item.label;
      button.disabled = same;
      button.setAttribute("aria-disabled", String(same));
      if (!same && !first) first = button;
    }
    first?.focus();
  }

  closePicker() {
    if (!this.picking) return;
    this.picking = false;
    byId("review-label-picker").hidden = true;
  }

  relabel(labelId) {
    const item = this.current();
    if (!item || labelId === item.label) return;
    this.closePicker();
    this.give("wrong_label", { label: labelId });
  }

  // ---- wrong region: a copy edited with the editor's tools ---------------------------------

  async startCorrection() {
    const item = this.current();
    if (!item) return;
    const refusal = this.refusal();
    if (refusal) return this.notice(refusal);
    this.closePicker();
    this.cancelCorrection();
    let geometry;
    try {
      const corrected = item.verdict?.verdict === "wrong_region" && item.verdict.geometry;
      geometry = corrected || (await this.loadGeometry(item));
    } catch (error) {
      return this.notice(`The annotation could not be loaded: ${error.message}`, "danger");
    }
    if (this.current() !== item) return;
    this.copy = this.editor.startCopy({
      geometry: structuredClone(geometry),
      kind: COPY_KINDS[item.kind] || item.kind,
      labelId: item.label,
    });
    this.copyOf = item;
    this.editor.tools.setTool("select");
    byId("review-correction").hidden = false;
    this.overlay.requestTop();
  }

  saveCorrection() {
    const item = this.copyOf;
    const copy = this.copy && this.editor.store.get(this.copy.uuid);
    if (!item || !copy || copy.deleted) return this.cancelCorrection();
    const geometry = copy.geometry;
    this.cancelCorrection();
    if (this.current() !== item) this.go(this.items.indexOf(item), { fly: false });
    this.give("wrong_region", { geometry });
  }

  cancelCorrection() {
    if (!this.copy) return;
    this.editor.endCopy(this.copy.uuid);
    this.copy = null;
    this.copyOf = null;
    byId("review-correction").hidden = true;
  }

  // ---- what the page shows ----------------------------------------------------------------

  showCorrections() {
    setCorrections(
      this.corrections,
      this.items
        .filter((item) => item.verdict?.verdict === "wrong_region" && item.verdict.geometry)
        .map((item) => ({
          annotation: item.annotation,
          labelId: item.label,
          kind: item.kind,
          geometry: item.verdict.geometry,
        })),
    );
    this.overlay.requestBase();
    this.layerPanel.refresh();
  }

  titleOf(item) {
    const kind = KIND_NAMES[item.kind] || item.kind;
    const name = item.name ? `“${item.name}”` : `${kind} ${this.numbers.get(item.annotation)}`;
    return `${name} by ${item.annotator}`;
  }

  showItem() {
    const item = this.current();
    const position = byId("review-position");
    const title = byId("review-item-title");
    const label = byId("review-item-label");
    const verdict = byId("review-item-verdict");
    const comment = byId("review-comment");
    const refusal = this.refusal();
    for (const button of document.querySelectorAll("#review-panel [data-verdict]")) {
      button.disabled = !item || Boolean(refusal);
      const chosen = Boolean(item?.verdict && item.verdict.verdict === button.dataset.verdict);
      button.classList.toggle("active", chosen);
      button.setAttribute("aria-pressed", String(chosen));
    }
    byId("review-withdraw").disabled = !item?.verdict || Boolean(refusal);
    byId("review-comment-save").disabled = !item || Boolean(refusal);
    comment.disabled = !item || Boolean(refusal);
    if (!item) {
      position.textContent = "–";
      title.textContent = this.items.length ? "" : "Nothing to review on this slide.";
      label.textContent = "";
      verdict.textContent = "";
      return;
    }
    position.textContent = `${this.index + 1} of ${this.items.length}`;
    title.textContent = this.titleOf(item);
    label.replaceChildren();
    const swatch = document.createElement("span");
    swatch.className = "label-swatch";
    swatch.style.backgroundColor = this.palette.colourOf(item.label);
    label.append("Label: ", swatch, this.palette.nameOf(item.label));
    verdict.className = `review-item-verdict${item.verdict ? ` verdict-text-${item.verdict.verdict}` : ""}`;
    if (item.verdict) {
      const by = item.verdict.pending ? " (saving…)" : "";
      verdict.textContent = `Your verdict: ${verdictText(item.verdict, this.palette)}${by}`;
    } else {
      verdict.textContent = "No verdict yet.";
    }
    if (this.shownItem !== item || document.activeElement !== comment) {
      comment.value = item.verdict?.comment || "";
    }
    this.shownItem = item;
  }

  showProgress() {
    const text = `${this.reviewed.toLocaleString("en")} of ${this.total.toLocaleString("en")} reviewed`;
    byId("review-progress").textContent = text;
    const bar = byId("review-progress-bar");
    const percent = this.total ? Math.round((100 * this.reviewed) / this.total) : 100;
    bar.style.width = `${percent}%`;
    bar.parentElement.setAttribute("aria-valuenow", String(percent));
    const summary = byId("reviewed-summary");
    if (summary) {
      const open = this.total - this.reviewed;
      summary.textContent =
        open > 0
          ? `${text}: ${open} annotation${open === 1 ? " has" : "s have"} no verdict yet.`
          : `${text}: every annotation has a verdict.`;
    }
  }

  showSentBack(sent = this.config.slide.sentBack) {
    const list = byId("review-sent-back");
    if (!list) return;
    list.replaceChildren(
      ...sent.map((row) => {
        const item = document.createElement("li");
        const who = document.createElement("strong");
        who.textContent = `Sent back to ${row.annotator}: `;
        item.append(who, row.note);
        return item;
      }),
    );
    list.hidden = !sent.length;
  }

  showSaveState(state, queued) {
    document.body.dataset.verdictState = state;
    const badge = byId("review-save-state");
    let text = SAVE_TEXT[state];
    if (state !== "saved") text += ` (${queued})`;
    badge.textContent = text;
    badge.className = `badge save-state save-state-${state}`;
  }

  notice(message, kind = "warning") {
    const box = byId("review-message");
    box.className = `alert alert-${kind} alert-dismissible small py-2 review-message`;
    box.querySelector("[data-text]").textContent = message;
    box.hidden = false;
  }

  /** The current item's outline, over everything, and its bounding box while it loads. */
  drawHighlight(ctx) {
    const item = this.current();
    if (!item || this.copy) return;
    const geometry = this.geometries.get(item.annotation);
    const path = new Path2D();
    if (geometry && geometry.type === "Point") {
      this.overlay.addPoint(path, ...geometry.coordinates, 10);
    } else if (geometry) {
      const rings = [];
      for (const line of outlineOf(geometry)) rings.push(Float64Array.from(line.flat()));
      this.overlay.addRings(path, rings, geometry.type !== "LineString");
    } else {
      const [x0, y0, x1, y1] = item.bbox;
      const ring = [x0, y0, x1, y0, x1, y1, x0, y1, x0, y0];
      this.overlay.addRings(path, [Float64Array.from(ring)], true);
    }
    ctx.lineJoin = "round";
    ctx.strokeStyle = "rgba(0, 0, 0, 0.7)";
    ctx.lineWidth = 6;
    ctx.stroke(path);
    ctx.strokeStyle = HIGHLIGHT;
    ctx.lineWidth = 3;
    ctx.stroke(path);
  }

  // ---- controls and keys --------------------------------------------------------------------

  wire() {
    byId("review-next").addEventListener("click", () => this.step(1));
    byId("review-previous").addEventListener("click", () => this.step(-1));
    byId("review-unreviewed-only").addEventListener("change", () => {
      if (this.onlyUnreviewed() && this.current()?.verdict) this.step(1);
    });
    for (const button of document.querySelectorAll("#review-panel [data-verdict]")) {
      const kind = button.dataset.verdict;
      button.addEventListener("click", () => this.act(kind));
    }
    for (const button of document.querySelectorAll("[data-relabel]")) {
      button.addEventListener("click", () => this.relabel(Number(button.dataset.relabel)));
    }
    byId("review-label-cancel").addEventListener("click", () => this.closePicker());
    byId("review-withdraw").addEventListener("click", () => this.withdraw());
    byId("review-comment-save").addEventListener("click", () => this.saveComment());
    byId("review-comment").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        this.saveComment();
      } else if (event.key === "Escape") {
        event.preventDefault();
        event.target.blur();
      }
    });
    byId("review-correction-save").addEventListener("click", () => this.saveCorrection());
    byId("review-correction-cancel").addEventListener("click", () => this.cancelCorrection());
    byId("review-show-corrections").addEventListener("change", (event) => {
      this.layerPanel.setVisible(this.corrections, event.target.checked);
    });
    byId("review-message")
      .querySelector(".btn-close")
      .addEventListener("click", () => {
        byId("review-message").hidden = true;
      });
    this.wireSlide();
    // On the window, in the capture phase: before the editor's and the viewer's own keys
    // (L is also freehand, X point, R rotation), which the review's keys take over here.
    window.addEventListener("keydown", (event) => this.onKeyDown(event), { capture: true });
  }

  act(kind) {
    if (kind === "wrong_label") this.openPicker();
    else if (kind === "wrong_region") this.startCorrection();
    else this.give(kind);
  }

  onKeyDown(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    if (document.querySelector(".modal.show")) return;
    const key = event.key;
    const take = (fn) => {
      event.preventDefault();
      event.stopPropagation();
      fn();
    };
    if (isTyping(event.target)) return undefined;
    if (this.picking) {
      if (key === "Escape") return take(() => this.closePicker());
      const label = this.editor.labelForKey(key);
      if (label) return take(() => this.relabel(label.id));
      return undefined;
    }
    if (this.copy) {
      // Enter ends a shape being drawn first; Escape cancels it first.
      if (this.editor.tools.draft) return undefined;
      if (key === "Enter") return take(() => this.saveCorrection());
      if (key === "Escape") return take(() => this.cancelCorrection());
      return undefined;
    }
    const actions = {
      a: () => this.act("agree"),
      l: () => this.act("wrong_label"),
      r: () => this.act("wrong_region"),
      x: () => this.act("reject"),
      c: () => byId("review-comment").focus(),
      j: () => this.step(1),
      k: () => this.step(-1),
      ".": () => this.step(1),
      ",": () => this.step(-1),
    };
    const action = actions[key.length === 1 ? key.toLowerCase() : key];
    if (action) take(action);
    return undefined;
  }

  // ---- the slide: reviewed, reopened, sent back ------------------------------------------------

  unsaved() {
    return this.queue.queued > 0 || (this.editor.sync && this.editor.sync.queued > 0);
  }

  wireSlide() {
    const modal = byId("reviewed-modal");
    if (modal) {
      const hold = () => {
        const unsaved = this.unsaved();
        byId("reviewed-unsaved").hidden = !unsaved;
        byId("reviewed-confirm").disabled = unsaved;
      };
      const watcher = new MutationObserver(hold);
      modal.addEventListener("show.bs.modal", () => {
        this.showProgress();
        hold();
        const attributes = ["data-save-state", "data-verdict-state"];
        watcher.observe(document.body, { attributes: true, attributeFilter: attributes });
      });
      modal.addEventListener("hidden.bs.modal", () => watcher.disconnect());
      byId("reviewed-confirm").addEventListener("click", () =>
        this.slideRequest("reviewed", byId("reviewed-error")),
      );
    }
    byId("review-reopen-button")?.addEventListener("click", () =>
      this.slideRequest("reopen", null),
    );
    byId("send-back-form")?.addEventListener("submit", (event) => {
      event.preventDefault();
      this.sendBack();
    });
  }

  /** Mark the slide reviewed or reopen it, then show the page as it now is. */
  async slideRequest(what, errorBox) {
    try {
      await jsonRequest("POST", `${this.config.urls.slide}${what}`, {});
      window.location.reload();
    } catch (error) {
      const message = `The slide could not be ${what === "reopen" ? "reopened" : "marked reviewed"}: ${error.message}`;
      if (errorBox) {
        errorBox.textContent = message;
        errorBox.hidden = false;
      } else {
        this.notice(message, "danger");
      }
    }
  }

  async sendBack() {
    const error = byId("send-back-error");
    const note = byId("send-back-note");
    const assignment = Number(byId("send-back-assignment").value);
    error.hidden = true;
    if (!note.value.trim()) {
      error.textContent = "Say why: the annotator reads this note.";
      error.hidden = false;
      note.focus();
      return;
    }
    const button = byId("send-back-confirm");
    button.disabled = true;
    try {
      const answer = await jsonRequest("POST", `${this.config.urls.slide}send-back`, {
        assignment,
        note: note.value,
      });
      this.config.slide.sentBack.push(answer.sentBack);
      this.showSentBack();
      note.value = "";
      window.bootstrap.Modal.getOrCreateInstance(byId("send-back-modal")).hide();
      this.notice(`Sent back to ${answer.sentBack.annotator}: their slide is open again.`, "success");
    } catch (failure) {
      error.textContent = `Not sent back: ${failure.message}`;
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  }

  summary() {
    const item = this.current();
    return {
      index: this.index,
      annotation: item ? item.annotation : null,
      verdict: item && item.verdict ? item.verdict.verdict : null,
      reviewed: this.reviewed,
      total: this.total,
      state: this.state,
      queued: this.queue.queued,
      correcting: Boolean(this.copy),
      copy: this.copy ? this.copy.uuid : null,
      picking: this.picking,
      corrections: this.corrections.store.liveCount,
    };
  }
}

function start() {
  const config = pageJson("review-config");
  const page = startWorkPage({ layerName: "Yours: missed regions (added in review)" });
  if (!page || !config) return;
  const review = new Review({ config, page });
  window.wsi2mlReview = { review, summary: () => review.summary() };
}

start();
