/*
 * The card of one feature of an uploaded layer, in the layer panel: its class, score,
 * measurements and properties (as text, never markup), and, on a work page whose own layer is
 * editable, "Add to my annotations": the promote endpoint copies the feature into the person's
 * assignment (label mapped, provenance kept), and the editor's layer then shows it.
 */

import { element } from "./layerpanel.js";
import { fromServer } from "./store.js";
import { csrfToken } from "./sync.js";

// What the card lists at most: properties can be anything a tool wrote.
const MAX_FACTS = 30;
const MAX_VALUE_CHARS = 120;

function text(value) {
  const words = typeof value === "number" ? formatNumber(value) : JSON.stringify(value);
  const shown = typeof value === "string" ? value : words;
  return shown.length > MAX_VALUE_CHARS ? `${shown.slice(0, MAX_VALUE_CHARS - 1)}…` : shown;
}

export function formatNumber(value) {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en");
  return Math.abs(value) >= 100 ? value.toFixed(1) : value.toPrecision(3);
}

/** The URL of a template ("/api/layers/{layer}/…") with its placeholders filled. */
export function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, key) => encodeURIComponent(String(values[key])));
}

export class FeatureCard {
  /**
   * @param {object} options container (#layer-panel); urls (the page's, with featurePromote);
   *   editor (the work page's, or null); onShow(layer, feature) / onHide() to highlight it.
   */
  constructor({ container, urls, editor = null, onShow = () => {}, onHide = () => {} }) {
    this.urls = urls;
    this.editor = editor;
    this.onShow = onShow;
    this.onHide = onHide;
    this.shown = null;
    this.card = element("section", "feature-card");
    this.card.id = "feature-card";
    this.card.hidden = true;
    this.card.setAttribute("aria-labelledby", "feature-card-title");
    container?.append(this.card);
  }

  get canPromote() {
    return Boolean(this.editor && !this.editor.readOnly && this.urls.featurePromote);
  }

  hide() {
    this.card.hidden = true;
    this.shown = null;
    this.onHide();
  }

  show(layer, feature) {
    this.shown = { layer, feature };
    const title = element("h3", "h6 mb-0 feature-card-title", feature.className || "No class");
    title.id = "feature-card-title";
    const close = element("button", "btn-close btn-sm");
    Object.assign(close, { type: "button", title: "Close" });
    close.setAttribute("aria-label", "Close the feature's details");
    close.addEventListener("click", () => this.hide());
    const head = element("div", "feature-card-head");
    head.append(title, close);
    const where = element(
      "p",
      "small app-muted mb-1",
      `${feature.objectType || "feature"} #${feature.id} of ${layer.name}`,
    );
    this.card.replaceChildren(head, where, this.facts(feature));
    if (this.canPromote) this.card.append(...this.promoteControls(layer, feature));
    this.card.hidden = false;
    this.onShow(layer, feature);
  }

  facts(feature) {
    const list = element("dl", "feature-facts");
    const rows = [];
    if (feature.score != null) rows.push(["Score", feature.score]);
    for (const [name, value] of Object.entries(feature.measurements)) rows.push([name, value]);
    for (const [name, value] of Object.entries(feature.properties)) rows.push([name, value]);
    for (const [name, value] of rows.slice(0, MAX_FACTS)) {
      list.append(element("dt", "", name), element("dd", "", text(value)));
    }
    if (rows.length > MAX_FACTS) {
      list.append(element("dt", "", "…"), element("dd", "", `${rows.length - MAX_FACTS} more`));
    }
    if (!rows.length) list.append(element("dt", "", "Details"), element("dd", "", "none"));
    return list;
  }

  promoteControls(layer, feature) {
    const labels = this.editor.labels;
    const mapped = labels.some((label) => label.id === feature.labelId) ? feature.labelId : null;
    const select = element("select", "form-select form-select-sm mb-1");
    select.id = "feature-card-label";
    if (mapped == null) select.append(new Option("Choose a label…", ""));
    for (const label of labels) select.append(new Option(label.name, String(label.id)));
    select.value = mapped == null ? "" : String(mapped);
    const labelFor = element("label", "form-label small mb-0", "Label of your annotation");
    labelFor.htmlFor = select.id;
    const button = element("button", "btn btn-sm btn-primary", "Add to my annotations");
    button.type = "button";
    button.id = "feature-card-promote";
    const message = element("p", "small mb-0 feature-card-message");
    message.setAttribute("role", "status");
    const enable = () => {
      button.disabled = !select.value;
    };
    select.addEventListener("change", enable);
    enable();
    button.addEventListener("click", async () => {
      button.disabled = true;
      const label = Number(select.value);
      message.textContent = await this.promote(layer, feature, label === mapped ? null : label);
      enable();
    });
    return [labelFor, select, button, message];
  }

  /** Ask the server to copy the feature into the editor's assignment; the words to show. */
  async promote(layer, feature, label) {
    const { editor } = this;
    const url = fill(this.urls.featurePromote, { layer: layer.layerId, feature: feature.id });
    const body = { assignment: editor.config.assignmentId };
    if (label != null) body.label = label;
    let response;
    let data;
    try {
      response = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "X-CSRFToken": csrfToken(),
        },
        body: JSON.stringify(body),
      });
      data = await response.json();
    } catch (error) {
      return `Not added: the server could not be reached (${error.message}).`;
    }
    if (!response.ok) return `Not added: ${data.error || `HTTP ${response.status}`}`;
    const annotation = fromServer(data);
    annotation.touched = true;
    editor.knownIds.add(annotation.id);
    editor.store.put(annotation);
    editor.changed();
    editor.scheduleStats();
    editor.load(true);
    return response.status === 201
      ? "Added to your annotations."
      : "Already in your annotations: it is shown in your layer.";
  }
}
