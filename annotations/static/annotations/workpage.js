/*
 * What every work page starts (the annotator's, annotations/work.js, and the reviewer's,
 * review/review.js): time tracking and the "Done" dialog, the editor on the person's own layer,
 * the other layers the page lists (read-only, each loading its own view), and the layer panel.
 */

import { viewerOnPage } from "../slides/viewer.js";
import { Editor, editorHook } from "./editor.js";
import {
  Layer,
  Palette,
  applyShownLayers,
  layersHook,
  markReadyWhenLoaded,
  pageJson,
  startLoaders,
} from "./layers.js";
import { LayerPanel } from "./layerpanel.js";
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
  for (const layer of others) overlay.addLayer(layer, overlay.layers.length);
  applyShownLayers(overlay.layers);
  const layerPanel = new LayerPanel({
    overlay,
    onToggle: (layer) => {
      if (layer === editor.layer && !layer.visible) editor.select(null);
    },
  });
  const ready = markReadyWhenLoaded(overlay.layers, overlay);
  editor.loadListeners.push(ready);
  editor.onStats = () => layerPanel.refresh();
  startLoaders({
    layers: others,
    viewer,
    overlay,
    size: { width: config.width, height: config.height },
    palette,
    onLoaded: () => {
      layerPanel.refresh();
      ready();
    },
  });
  window.wsi2mlEditor = editorHook(editor);
  window.wsi2mlLayers = layersHook({ layers: overlay.layers, overlay, viewer });
  return { config, editor, overlay, palette, layerPanel, viewer };
}
