/*
 * What every page with annotation layers does with its read-only layers (the plain viewer's,
 * slide_layers.js, and the work pages', workpage.js): draw them beneath what the overlay holds,
 * show the first ones ?layers= names, show the layer panel, load each layer's own view, mark
 * the page ready for browser tests once the shown layers are drawn, and keep
 * window.wsi2mlLayers (layers.js, layersHook); then add the slide's uploaded layers.
 */

import { applyShownLayers, layersHook, markReadyWhenLoaded, startLoaders } from "./layers.js";
import { LayerPanel } from "./layerpanel.js";
import { ModelLayers } from "./modelcontrols.js";

/**
 * Add ``layers`` to ``overlay`` and start them as above; ``size`` is the slide's {width,
 * height}, ``onToggle(layer)`` is told when the panel shows or hides a layer. With ``urls``
 * (the page's, holding the slide's layers URL) the uploaded layers follow (modelcontrols.js),
 * whose features ``editor`` (a work page's) can take into the person's annotations. Return
 * {layerPanel, ready, modelLayers}: ready() marks the page ready when every shown layer of the
 * overlay is loaded, for whatever else loads (the editor's own layer).
 */
export function startLayers({ layers, viewer, overlay, palette, size, onToggle, urls, editor }) {
  for (const layer of layers) overlay.addLayer(layer, overlay.layers.length);
  applyShownLayers(overlay.layers);
  const layerPanel = new LayerPanel({ overlay, onToggle });
  const ready = markReadyWhenLoaded(overlay.layers, overlay);
  startLoaders({
    layers,
    viewer,
    overlay,
    size,
    palette,
    onLoaded: () => {
      layerPanel.refresh();
      ready();
    },
  });
  window.wsi2mlLayers = layersHook({ layers: overlay.layers, overlay, viewer });
  let modelLayers = null;
  if (urls?.layers) {
    modelLayers = new ModelLayers({ urls, viewer, overlay, palette, size, layerPanel, editor });
    modelLayers.start();
  }
  return { layerPanel, ready, modelLayers };
}
