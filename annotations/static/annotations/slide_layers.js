/*
 * The plain slide viewer's module when the person sees annotation layers on the slide
 * (#layer-config, from annotations.context_processors.viewer_layers): the viewer, every layer
 * read-only (even one's own, which the work page edits) with its own viewport loading, and the
 * layer panel. ?layers=assignment-4,... shows
 * only those layers at first.
 *
 * For browser tests it keeps window.wsi2mlLayers (layers.js, layersHook) and sets
 * document.body.dataset.layersReady = "1" once the shown layers are loaded and drawn.
 */

import { viewerOnPage } from "../slides/viewer.js";
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

function start() {
  const config = pageJson("layer-config");
  const state = viewerOnPage();
  if (!config || !state) return;
  const { viewer } = state;
  const palette = new Palette(config.labels);
  const overlay = new Overlay(viewer, { palette });
  const layers = config.layers.map((json) => Layer.fromJson(json));
  // Nothing is edited here: the person's own layer is edited on their work page.
  for (const layer of layers) {
    if (layer.own && layer.editable) layer.readOnlyReason = "open it with Annotate to edit it";
    layer.editable = false;
  }
  for (const layer of layers) overlay.addLayer(layer, overlay.layers.length);
  applyShownLayers(layers);
  const panel = new LayerPanel({ overlay });
  const ready = markReadyWhenLoaded(layers, overlay);
  startLoaders({
    layers,
    viewer,
    overlay,
    size: { width: state.config.width, height: state.config.height },
    palette,
    onLoaded: () => {
      panel.refresh();
      ready();
    },
  });
  ready();
  window.wsi2mlLayers = layersHook({ layers, overlay, viewer });
}

start();
