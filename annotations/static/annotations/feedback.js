/*
 * What reviewers said about the person's annotations on this slide (#feedback-config, set by the
 * review app's context processor on the annotator's work page): a badge on each annotation with
 * a verdict, in the overlay and in the list of annotations; a list of the verdicts in the panel
 * (verdict, the label it should have, comment, reviewer), each flying to its annotation; and the
 * corrected regions, drawn dashed over the originals in a layer of their own.
 */

import { bboxOf } from "./geometry.js";
import { correctionsLayer, setCorrections } from "./layers.js";

/** The words and badge of each kind of verdict, for the reviewer's page and the annotator's. */
export const VERDICTS = {
  agree: { name: "Agree", done: "Agreed", glyph: "✓", colour: "#198754" },
  wrong_label: { name: "Wrong label", done: "Wrong label", glyph: "L", colour: "#b35c00" },
  wrong_region: { name: "Wrong region", done: "Wrong region", glyph: "R", colour: "#b35c00" },
  reject: { name: "Reject", done: "Rejected", glyph: "✗", colour: "#dc3545" },
};

const BADGE_RADIUS = 8;

/** A verdict in words: "Wrong label → Stroma", "Agreed"… */
export function verdictText(verdict, palette) {
  const kind = VERDICTS[verdict.verdict];
  if (!kind) return verdict.verdict;
  if (verdict.verdict === "wrong_label" && verdict.label != null) {
    return `${kind.done} → ${palette.nameOf(verdict.label)}`;
  }
  if (verdict.verdict === "wrong_region") return `${kind.done} (corrected region dashed)`;
  if (verdict.verdict === "reject") return `${kind.done}: not a finding`;
  return kind.done;
}

/** A small badge element for a verdict. */
export function verdictBadge(verdict, palette) {
  const badge = document.createElement("span");
  badge.className = `verdict-badge verdict-${verdict.verdict}`;
  badge.textContent = VERDICTS[verdict.verdict]?.glyph || "?";
  badge.title = verdictText(verdict, palette);
  badge.setAttribute("aria-label", `Reviewer's verdict: ${badge.title}`);
  return badge;
}

/** Draw round badges at the top right corner of the annotations that have verdicts. */
export function drawBadges(ctx, overlay, placed) {
  ctx.font = "700 11px system-ui, sans-serif";
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  const box = overlay.viewBox();
  for (const { bbox, verdicts } of placed) {
    if (bbox[0] > box[2] || bbox[2] < box[0] || bbox[1] > box[3] || bbox[3] < box[1]) continue;
    let [sx, sy] = overlay.toScreen(bbox[2], bbox[1]);
    for (const verdict of verdicts) {
      const kind = VERDICTS[verdict.verdict];
      if (!kind) continue;
      ctx.beginPath();
      ctx.arc(sx, sy, BADGE_RADIUS, 0, 2 * Math.PI);
      ctx.fillStyle = kind.colour;
      ctx.fill();
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = "#fff";
      ctx.stroke();
      ctx.fillStyle = "#fff";
      ctx.fillText(kind.glyph, sx, sy + 0.5);
      sx += 2 * BADGE_RADIUS + 2;
    }
  }
}

export class Feedback {
  /**
   * @param {object} options config (#feedback-config), editor (the annotator's), layerPanel.
   */
  constructor({ config, editor, layerPanel }) {
    this.config = config;
    this.editor = editor;
    this.list = document.getElementById("feedback-list");
    for (const verdict of config.verdicts) {
      const known = editor.feedback.get(verdict.annotation) || [];
      known.push(verdict);
      editor.feedback.set(verdict.annotation, known);
    }
    this.corrections = this.addCorrections(layerPanel);
    editor.overlay.addPainter((ctx, overlay) => drawBadges(ctx, overlay, this.placed()));
    this.list?.addEventListener("click", (event) => {
      const button = event.target.closest("[data-annotation]");
      if (button) this.flyTo(Number(button.dataset.annotation));
    });
    this.render();
    editor.panel.showList();
    // Titles and the labels of corrected regions come from the annotations, once loaded.
    editor.loadListeners.push(() => this.render());
  }

  addCorrections(layerPanel) {
    const corrected = this.config.verdicts.filter((v) => v.verdict === "wrong_region" && v.geometry);
    if (!corrected.length) return null;
    const layer = correctionsLayer({
      id: "corrections",
      name: "Corrected regions (reviewers')",
      colour: "#ffd400",
    });
    setCorrections(
      layer,
      corrected.map((v) => ({ annotation: v.annotation, labelId: null, geometry: v.geometry })),
    );
    // Over the person's own layer, so that the dashed outline shows on the original.
    this.editor.overlay.addLayer(layer, 0);
    layerPanel.addLayer(layer);
    return layer;
  }

  featureById(id) {
    for (const feature of this.editor.store.features.values()) if (feature.id === id) return feature;
    return null;
  }

  /** The loaded annotations with verdicts, where their badges go. */
  placed() {
    const placed = [];
    for (const feature of this.editor.store.live()) {
      const verdicts = feature.id != null && this.editor.feedback.get(feature.id);
      if (verdicts && this.editor.layer.visible) placed.push({ bbox: feature.bbox, verdicts });
    }
    return placed;
  }

  /** The verdict list; labels of corrected regions follow the annotations once loaded. */
  render() {
    const { editor } = this;
    if (this.corrections) {
      for (const feature of this.corrections.store.features.values()) {
        feature.labelId = this.featureById(feature.id)?.labelId ?? feature.labelId;
      }
      editor.overlay.requestBase();
    }
    if (!this.list) return;
    const items = this.config.verdicts.map((verdict) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "feedback-item";
      button.dataset.annotation = String(verdict.annotation);
      const feature = this.featureById(verdict.annotation);
      const title = document.createElement("span");
      title.className = "feedback-title";
      title.textContent = feature ? editor.panel.titleOf(feature) : "An annotation";
      const text = document.createElement("span");
      text.className = "feedback-verdict";
      text.textContent = verdictText(verdict, editor.palette);
      const head = document.createElement("span");
      head.className = "feedback-head";
      head.append(verdictBadge(verdict, editor.palette), title, text);
      button.append(head);
      if (verdict.comment) {
        const comment = document.createElement("q");
        comment.className = "feedback-comment";
        comment.textContent = verdict.comment;
        button.append(comment);
      }
      const by = document.createElement("span");
      by.className = "feedback-by small app-muted";
      by.textContent = `by ${verdict.reviewer}`;
      button.append(by);
      item.append(button);
      return item;
    });
    this.list.replaceChildren(...items);
  }

  /** Fly to an annotation, loaded or not (then its bounds come from the annotations API). */
  async flyTo(id) {
    const { editor } = this;
    const feature = this.featureById(id);
    if (feature) {
      editor.zoomTo(feature.uuid);
      return;
    }
    try {
      const response = await fetch(`${editor.config.urls.annotation}${id}`, {
        credentials: "same-origin",
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const data = await response.json();
      editor.flyToBox(bboxOf(data.geometry));
    } catch (error) {
      editor.notice(`That annotation could not be shown: ${error.message}`);
    }
  }
}
