/*
 * The plain slide viewer's module when the person sees the slide (#layer-config, from
 * annotations.context_processors.viewer_layers): the viewer, every annotation layer they see
 * read-only (even one's own, which the work page edits) with its own viewport loading, the
 * slide's uploaded layers (fetched from config.urls.layers), and the layer panel once there is
 * a layer. ?layers=assignment-4,layer-7... shows only those layers at first.
 *
 * For browser tests it keeps window.wsi2mlLayers (layers.js, layersHook) and sets
 * document.body.dataset.layersReady = "1" once the shown layers are loaded and drawn.
 */

import { viewerOnPage } from "../slides/viewer.js";
import { startLayers } from "./layerpage.js";
import { Layer, Palette, pageJson } from "./layers.js";
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
  const { ready } = startLayers({
    layers,
    viewer,
    overlay,
    palette,
    size: { width: state.config.width, height: state.config.height },
    urls: config.urls,
  });
  // Nothing shown may need loading (every layer hidden by ?layers=, or none with a URL).
  ready();
}

start();
