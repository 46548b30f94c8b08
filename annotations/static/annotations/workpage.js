/*
 * What every work page starts (the annotator's, annotations/work.js, and the reviewer's,
 * review/review.js): time tracking and the "Done" dialog, the editor on the person's own layer,
 * the other layers the page lists (read-only, each loading its own view), and the layer panel
 * (those two as on the plain viewer, layerpage.js).
 */

import { viewerOnPage } from "../slides/viewer.js";
import { Editor, editorHook } from "./editor.js";
import { startLayers } from "./layerpage.js";
import { Layer, Palette, pageJson } from "./layers.js";
import { Overlay } from "./overlay.js";
import { setUpDoneDialog, startHeartbeat } from "./workbar.js";

/**
 * Start the work page; return {config, editor, overlay, palette, layerPanel, viewer}, or null
 * when the slide cannot be displayed (then only the work bar works).
 * ``layerName`` names the editor's own layer ("Missed regions" for a reviewer).
 */
export function startWorkPage({ layerName } = {}) {
  const config = pageJson("editor-config");
  startHeartbeat();
  setUpDoneDialog(config);
  const state = viewerOnPage();
  if (!state || !config) return null;
  const { viewer } = state;
  const palette = new Palette(config.labels);
  const overlay = new Overlay(viewer, { palette });
  const editor = new Editor(config, viewer, { palette, overlay, layerName });
  const others = (config.layers || [])
    .filter((json) => json.assignment !== config.assignmentId)
    .map((json) => Layer.fromJson(json));
  // The person's own layer stays on top: the others are drawn beneath it.
  const { layerPanel, ready } = startLayers({
    layers: others,
    viewer,
    overlay,
    palette,
    size: { width: config.width, height: config.height },
    urls: config.urls,
    editor,
    onToggle: (layer) => {
      if (layer === editor.layer && !layer.visible) editor.select(null);
    },
  });
  // Both load asynchronously, so these are in place before either could be needed.
  editor.loadListeners.push(ready);
  editor.onStats = () => layerPanel.refresh();
  window.wsi2mlEditor = editorHook(editor);
  return { config, editor, overlay, palette, layerPanel, viewer };
}
