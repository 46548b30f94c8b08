/*
 * The uploaded layers of a page with a layer panel (the plain viewer's and the work pages'):
 * fetched from the slide's layers URL the page was given (urls.layers), drawn read-only beneath
 * the human layers, each with its controls in its panel row (what it is coloured by, with a
 * legend; a score threshold; "Compare with" a reference, whose false positives and negatives
 * one steps through), and a card for the feature clicked or stepped to (featurecard.js).
 * Layers still importing say so and are asked about again until they are ready or failed.
 *
 * For browser tests it keeps window.wsi2mlModelLayers (summary, highlight, metrics) and sets
 * document.body.dataset.modelLayersReady = "1" once the list is in and every shown ready layer
 * is loaded and drawn.
 */

import { flyToBox } from "../slides/viewer.js";
import { bboxOf, drawingRings } from "./geometry.js";
import { FeatureCard, fill, formatNumber } from "./featurecard.js";
import { applyShownLayers } from "./layers.js";
import { element } from "./layerpanel.js";
import { CLASS, FeatureLoader, ModelLayer, colourMapGradient, featureOf } from "./modellayers.js";

const POLL_MS = 3000;
const MAX_POLLS = 400; // 20 minutes of waiting for an import, then the page stops asking
const PICK_PX = 4; // how near a click must be to a point or line, in screen pixels
const THRESHOLD_STEPS = 100; // at least this many steps over a layer's range of scores
const HIGHLIGHT = { fp: "#ff00ff", fn: "#ff8c00", picked: "#ffffff" };
const STEP_NAMES = { fp: "False positive", fn: "False negative" };

async function getJson(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  let data = null;
  try {
    data = await response.json();
  } catch {
    // An answer without JSON (a log-in page): said below as its status.
  }
  if (!response.ok) throw new Error(data?.error || `HTTP ${response.status}`);
  return data;
}

export class ModelLayers {
  /**
   * @param {object} options urls (the page's: layers, layer, layerMetrics, featurePromote,
   *   annotation); viewer, overlay, palette, size {width, height}; layerPanel; editor (the
   *   work page's, or null).
   */
  constructor({ urls, viewer, overlay, palette, size, layerPanel, editor = null }) {
    Object.assign(this, { urls, viewer, overlay, palette, size, layerPanel, editor });
    this.layers = [];
    this.highlight = null; // {kind: "fp" | "fn" | "picked", id, geometry}
    this.metrics = new Map(); // layer id -> the last comparison's answer
    this.card = new FeatureCard({
      container: layerPanel.container,
      urls,
      editor,
      onShow: (layer, feature) => {
        if (this.highlight?.kind !== "fp" || this.highlight.id !== feature.id)
          this.setHighlight({ kind: "picked", id: feature.id, geometry: feature.geometry });
      },
      onHide: () => this.setHighlight(null),
    });
    overlay.addPainter((ctx) => this.paintHighlight(ctx));
    viewer.addHandler("canvas-click", (event) => {
      if (event.quick) this.pick(event.originalEvent);
    });
    window.wsi2mlModelLayers = this.hook();
  }

  /** Fetch the slide's layers and add the uploaded ones. */
  async start() {
    let listed;
    try {
      listed = (await getJson(this.urls.layers)).layers;
    } catch (error) {
      console.warn("Could not list the slide's uploaded layers:", error);
      this.markReady();
      return;
    }
    for (const json of listed) if (json.layer != null) this.add(json);
    applyShownLayers(this.overlay.layers);
    for (const layer of this.layers) {
      this.layerPanel.rows.get(layer.id).toggle.checked = layer.visible;
    }
    this.layerPanel.refresh();
    for (const layer of this.layers) {
      if (layer.ready) this.startLoading(layer);
      else if (layer.state !== "failed") this.poll(layer, 0);
    }
    this.markReady();
  }

  add(json) {
    const layer = new ModelLayer(json);
    this.layers.push(layer);
    // Beneath the human layers: their outlines stay readable over a model's fills.
    this.overlay.addLayer(layer, this.overlay.layers.length);
    layer.controls = new LayerControls({ layer, owner: this });
    this.layerPanel.addLayer(layer, layer.controls.element);
  }

  startLoading(layer) {
    if (layer.loader) return;
    const loader = new FeatureLoader({
      layer,
      viewer: this.viewer,
      overlay: this.overlay,
      size: this.size,
      palette: this.palette,
      url: layer.featuresUrl,
      onLoaded: () => {
        this.layerPanel.refresh();
        this.markReady();
      },
    });
    if (this.viewer.world.getItemCount()) loader.load(true);
    else this.viewer.addOnceHandler("open", () => loader.load(true));
  }

  /** Ask about an importing layer again until it is ready or failed. */
  poll(layer, count) {
    if (count >= MAX_POLLS) return;
    setTimeout(async () => {
      try {
        const { layer: json } = await getJson(fill(this.urls.layer, { layer: layer.layerId }));
        layer.update(json);
      } catch (error) {
        console.warn(`Could not ask about layer ${layer.name}:`, error);
      }
      this.layerPanel.refreshRow(layer);
      layer.controls.refresh();
      if (layer.ready) this.startLoading(layer);
      else if (layer.state !== "failed") this.poll(layer, count + 1);
    }, POLL_MS);
  }

  markReady() {
    const waiting = this.layers.some((l) => l.visible && l.ready && !l.loader?.loaded);
    if (waiting || document.body.dataset.modelLayersReady) return;
    this.overlay.whenDrawn(() => {
      document.body.dataset.modelLayersReady = "1";
    });
  }

  /** Show the card of the top shown feature under a click, if any. */
  pick(event) {
    if (!event || !this.overlay.updateMatrix()) return;
    const [x, y] = this.overlay.eventToImage(event);
    const tolerance = PICK_PX / this.overlay.scale;
    for (const layer of this.overlay.layers) {
      if (!(layer instanceof ModelLayer) || !layer.visible) continue;
      const feature = layer.featureAt(x, y, tolerance, this.overlay.display);
      if (feature) {
        this.card.show(layer, feature);
        return;
      }
    }
  }

  setHighlight(highlight) {
    this.highlight = highlight;
    this.overlay.requestTop();
  }

  paintHighlight(ctx) {
    const shown = this.highlight;
    if (!shown?.geometry) return;
    const { geometry } = shown;
    ctx.beginPath();
    if (geometry.type === "Point") {
      this.overlay.addPoint(ctx, geometry.coordinates[0], geometry.coordinates[1], 10);
    } else {
      this.overlay.addRings(ctx, drawingRings(geometry), geometry.type !== "LineString");
    }
    // A dark halo under the colour, so that the outline shows on pale and dark tissue alike.
    ctx.lineJoin = "round";
    ctx.strokeStyle = "rgba(0, 0, 0, 0.7)";
    ctx.lineWidth = 7;
    ctx.stroke();
    ctx.strokeStyle = HIGHLIGHT[shown.kind];
    ctx.lineWidth = 4;
    ctx.stroke();
  }

  /** Fly to a false positive (a feature of ``layer``) or negative (an annotation), outlined. */
  async goTo(layer, kind, id) {
    if (kind === "fp") {
      let feature = layer.featureById(id);
      if (!feature) {
        // Not in the loaded view (elsewhere on the slide, or the view is in its reduced form).
        try {
          const url = fill(this.urls.layerFeature, { layer: layer.layerId, feature: id });
          feature = featureOf(await getJson(url));
        } catch (error) {
          return `Feature #${id} could not be shown: ${error.message}`;
        }
      }
      this.setHighlight({ kind, id, geometry: feature.geometry });
      flyToBox(this.viewer, feature.bbox);
      this.card.show(layer, feature);
      return "";
    }
    try {
      const data = await getJson(`${this.urls.annotation}${id}`);
      this.setHighlight({ kind, id, geometry: data.geometry });
      flyToBox(this.viewer, bboxOf(data.geometry));
      return "";
    } catch (error) {
      return `Annotation #${id} could not be shown: ${error.message}`;
    }
  }

  /** The references a layer can be compared with: the human layers the page lists. */
  referencesFor(layer) {
    const humans = this.overlay.layers.filter(
      (other) => other.json?.assignment != null && other.json.task?.project === layer.json.project,
    );
    const options = humans.map((other) => ({
      query: `assignments=${other.json.assignment}`,
      name: other.own ? `Yours (${other.json.task.name})` : other.name,
    }));
    const tasks = new Map(humans.map((other) => [other.json.task.id, other.json.task]));
    for (const task of tasks.values()) {
      options.push({ query: `task=${task.id}`, name: `All annotators of ${task.name}` });
    }
    return options;
  }

  async compare(layer, query) {
    const url = new URL(fill(this.urls.layerMetrics, { layer: layer.layerId }), location.href);
    for (const [key, value] of new URLSearchParams(query)) url.searchParams.set(key, value);
    if (layer.minScore != null) url.searchParams.set("min_score", String(layer.minScore));
    const answer = await getJson(url);
    this.metrics.set(layer.id, answer);
    return answer;
  }

  hook() {
    return {
      summary: () =>
        this.layers.map((layer) => ({
          id: layer.id,
          name: layer.name,
          state: layer.state,
          visible: layer.visible,
          features: layer.store.liveCount,
          reduced: layer.store.reduced,
          drawn: layer.drawn,
          colourBy: layer.colourBy,
          minScore: layer.minScore,
        })),
      highlight: () =>
        this.highlight && { kind: this.highlight.kind, id: this.highlight.id },
      card: () => this.card.shown && this.card.shown.feature.id,
      metrics: (id) => this.metrics.get(id) || null,
      featureAt: (x, y) => {
        for (const layer of this.layers) {
          const feature = layer.featureAt(x, y, 1, this.overlay.display);
          if (feature) return feature.id;
        }
        return null;
      },
    };
  }
}

/** One uploaded layer's controls in its panel row. */
class LayerControls {
  constructor({ layer, owner }) {
    this.layer = layer;
    this.owner = owner;
    this.key = layer.id.replace(/[^\w-]/g, "_");
    this.element = element("div", "model-controls");
    this.element.append(this.colourControl(), this.legend(), this.thresholdControl());
    this.element.append(this.compareControl());
    this.refresh();
  }

  refresh() {
    const { layer } = this;
    this.element.hidden = !layer.ready;
    this.colourRow.hidden = !layer.measurements.length;
    this.thresholdRow.hidden = !layer.scoreRange;
    if (layer.scoreRange) {
      const [low, high] = layer.scoreRange;
      // A round step (0.001 for scores from 0 to 1), so that thresholds are round numbers.
      const step = 10 ** Math.floor(Math.log10((high - low) / THRESHOLD_STEPS || 1));
      Object.assign(this.threshold, { min: low, max: high, step });
      if (layer.minScore == null) this.threshold.value = String(low);
      this.showThreshold();
    }
    if (this.select.options.length !== layer.measurements.length + 1) this.fillColourChoices();
    this.showLegend();
  }

  row(labelText, control) {
    const row = element("div", "model-control-row");
    const label = element("label", "small model-control-label", labelText);
    label.htmlFor = control.id;
    label.append(element("span", "visually-hidden", ` of ${this.layer.name}`));
    row.append(label, control);
    return row;
  }

  colourControl() {
    this.select = element("select", "form-select form-select-sm");
    this.select.id = `model-colour-${this.key}`;
    this.select.addEventListener("change", () => {
      this.layer.colourBy = this.select.value;
      this.showLegend();
      this.owner.overlay.requestBase();
    });
    this.colourRow = this.row("Colour by", this.select);
    return this.colourRow;
  }

  fillColourChoices() {
    const choices = [new Option("Class", CLASS)];
    for (const measurement of this.layer.measurements) {
      choices.push(new Option(measurement.name, measurement.name));
    }
    this.select.replaceChildren(...choices);
    this.select.value = this.layer.colourBy;
  }

  legend() {
    this.legendBox = element("div", "model-legend");
    this.legendName = element("span", "visually-hidden");
    const bar = element("span", "model-legend-bar");
    bar.style.backgroundImage = colourMapGradient();
    bar.setAttribute("aria-hidden", "true");
    this.legendLow = element("span", "model-legend-low small");
    this.legendHigh = element("span", "model-legend-high small");
    this.legendBox.append(this.legendName, this.legendLow, bar, this.legendHigh);
    return this.legendBox;
  }

  showLegend() {
    const range = this.layer.colourBy === CLASS ? null : this.layer.colourRange;
    this.legendBox.hidden = !range;
    if (!range) return;
    this.legendName.textContent = `${this.layer.colourBy} from`;
    this.legendLow.textContent = formatNumber(range[0]);
    this.legendHigh.textContent = formatNumber(range[1]);
    this.legendBox.dataset.range = `${range[0]},${range[1]}`;
  }

  thresholdControl() {
    this.threshold = element("input", "form-range model-threshold");
    Object.assign(this.threshold, { type: "range", id: `model-threshold-${this.key}` });
    this.thresholdValue = element("output", "small model-threshold-value");
    this.thresholdValue.htmlFor = this.threshold.id;
    this.threshold.addEventListener("input", () => {
      const value = Number(this.threshold.value);
      // At the range's low end nothing is filtered, features without a score included.
      this.layer.minScore = value <= this.layer.scoreRange[0] ? null : value;
      this.showThreshold();
      this.owner.overlay.requestBase();
    });
    this.thresholdRow = this.row("Score at least", this.threshold);
    this.thresholdRow.append(this.thresholdValue);
    return this.thresholdRow;
  }

  showThreshold() {
    const value = this.layer.minScore ?? this.layer.scoreRange[0];
    this.thresholdValue.textContent = formatNumber(value);
  }

  compareControl() {
    const box = element("details", "model-compare");
    const summary = element("summary", "small", "Compare with…");
    this.reference = element("select", "form-select form-select-sm");
    this.reference.id = `model-reference-${this.key}`;
    const run = element("button", "btn btn-sm btn-outline-primary", "Compare");
    run.type = "button";
    this.status = element("p", "small mb-1 model-compare-status");
    this.status.setAttribute("role", "status");
    this.table = element("table", "table table-sm model-metrics mb-1");
    this.table.hidden = true;
    this.stepper = this.stepControls();
    const referenceRow = this.row("Reference", this.reference);
    referenceRow.append(run);
    box.append(summary, referenceRow, this.status, this.table, this.stepper);
    box.addEventListener("toggle", () => {
      if (box.open) this.fillReferences();
    });
    run.addEventListener("click", () => this.compare());
    return box;
  }

  fillReferences() {
    const options = this.owner.referencesFor(this.layer);
    const chosen = this.reference.value;
    this.reference.replaceChildren(...options.map((o) => new Option(o.name, o.query)));
    if (options.some((o) => o.query === chosen)) this.reference.value = chosen;
    if (!options.length) {
      this.status.textContent = "No annotations of this project to compare with.";
    }
  }

  async compare() {
    if (!this.reference.value) return;
    this.status.textContent = "Comparing…";
    let answer;
    try {
      answer = await this.owner.compare(this.layer, this.reference.value);
    } catch (error) {
      this.status.textContent = `Not compared: ${error.message}`;
      return;
    }
    const { minScore } = this.layer;
    const threshold = minScore == null ? "" : `, scores ≥ ${formatNumber(minScore)}`;
    const unmapped = answer.unmapped ? `; ${answer.unmapped} features without a label left out` : "";
    const reference = this.reference.selectedOptions[0].text;
    this.status.textContent = `Compared with ${reference}${threshold}${unmapped}.`;
    this.showTable(answer);
    this.steps = { fp: answer.total.falsePositives, fn: answer.total.falseNegatives };
    this.stepKind.replaceChildren(
      new Option(`False positives (${this.steps.fp.length})`, "fp"),
      new Option(`False negatives (${this.steps.fn.length})`, "fn"),
    );
    this.stepKind.value = this.steps.fp.length || !this.steps.fn.length ? "fp" : "fn";
    this.index = -1;
    this.stepper.hidden = false;
    this.showStep("");
  }

  showTable(answer) {
    const percent = (value) => (value == null ? "–" : value.toFixed(2));
    const head = element("tr");
    for (const [name, title] of [
      ["Label", ""],
      ["P", "Precision"],
      ["R", "Recall"],
      ["F1", "F1 score"],
      ["Dice", "Area Dice"],
    ]) {
      const cell = element("th", "", name);
      cell.scope = "col";
      if (title) cell.title = title;
      head.append(cell);
    }
    const body = element("tbody");
    for (const row of [...answer.labels, answer.total]) {
      const tr = element("tr");
      const name = element("th", "", row.name);
      name.scope = "row";
      tr.append(name);
      for (const key of ["precision", "recall", "f1", "dice"]) {
        tr.append(element("td", "text-end", percent(row[key])));
      }
      body.append(tr);
    }
    const caption = element(
      "caption",
      "visually-hidden",
      `${this.layer.name} against the reference`,
    );
    const thead = element("thead");
    thead.append(head);
    this.table.replaceChildren(caption, thead, body);
    this.table.hidden = false;
  }

  stepControls() {
    const box = element("div", "model-steps");
    box.hidden = true;
    this.stepKind = element("select", "form-select form-select-sm");
    this.stepKind.id = `model-step-kind-${this.key}`;
    this.stepKind.addEventListener("change", () => {
      this.index = -1;
      this.showStep("");
    });
    const previous = element("button", "btn btn-sm btn-outline-secondary", "Previous");
    const next = element("button", "btn btn-sm btn-outline-secondary", "Next");
    previous.type = next.type = "button";
    previous.addEventListener("click", () => this.step(-1));
    next.addEventListener("click", () => this.step(1));
    this.stepWhere = element("p", "small mb-0 model-step-where");
    this.stepWhere.setAttribute("aria-live", "polite");
    const buttons = element("div", "model-step-buttons");
    buttons.append(previous, next);
    // The place before the buttons, where it stays in sight when they scroll into view.
    box.append(this.row("Step through", this.stepKind), this.stepWhere, buttons);
    return box;
  }

  async step(by) {
    const ids = this.steps[this.stepKind.value];
    if (!ids.length) return;
    this.index = (this.index + by + ids.length) % ids.length;
    const kind = this.stepKind.value;
    const problem = await this.owner.goTo(this.layer, kind, ids[this.index]);
    this.showStep(problem);
  }

  showStep(problem) {
    const kind = this.stepKind.value;
    const ids = this.steps[kind];
    const what =
      kind === "fp" ? "a feature the model found alone" : "an annotation the model missed";
    if (this.index < 0) {
      this.stepWhere.textContent = ids.length ? `${ids.length} to step through.` : "None.";
      return;
    }
    const id = ids[this.index];
    this.stepWhere.textContent =
      problem || `${STEP_NAMES[kind]} ${this.index + 1} of ${ids.length}: #${id}, ${what}.`;
  }
}
