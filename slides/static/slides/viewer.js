/*
 * Slide viewer page: OpenSeadragon on the slide's Deep Zoom pyramid, with a scale bar,
 * magnification presets, keyboard shortcuts and the details panel.
 *
 * Reads its settings from the JSON in #viewer-config and starts when imported: a page loads one
 * module of its own (this one, or one that imports it), and the modules that draw over the slide
 * get the viewer from viewerOnPage(). For browser tests and benchmarks it sets
 * document.body.dataset.viewerReady = "1" once the pyramid has opened, and keeps the same state
 * as window.wsi2mlViewer, which no module reads.
 */

const SCALE_BAR_MAX_PX = 200;
const ZOOM_STEP = 1.5;
const ROTATION_STEP = 90;
const MINIMAP_KEY = "wsi2ml.minimap";
// Scanners sold as 40x record 0.25 to 0.26 µm/px; a 40x preset still makes sense for them.
const PRESET_TOLERANCE = 1.05;

/** Magnification at one slide pixel per screen pixel: the objective, else 10 µm/px ≈ 1×. */
function baseMagnification({ objectivePower, mpp }) {
  if (objectivePower > 0) return objectivePower;
  if (mpp > 0) return 10 / mpp;
  return null;
}

/** Return the largest 1, 2 or 5 × 10^n micrometres that is not above maxMicrons. */
function niceLength(maxMicrons) {
  let power = 10 ** Math.floor(Math.log10(maxMicrons));
  if (power * 10 <= maxMicrons) power *= 10; // log10 of an exact power of ten may round down
  return ([5, 2, 1].find((step) => step * power <= maxMicrons) ?? 1) * power;
}

/** Format a length in µm below a millimetre and in mm from there on. */
function formatLength(microns) {
  const [value, unit] = microns >= 1000 ? [microns / 1000, "mm"] : [microns, "µm"];
  return `${Number(value.toPrecision(3))} ${unit}`;
}

/** Screen pixels per level-0 slide pixel at the current (animated) zoom, or null before opening. */
function imageZoom(viewer) {
  const item = viewer.world.getItemAt(0);
  return item ? item.viewportToImageZoom(viewer.viewport.getZoom(true)) : null;
}

function zoomToImageZoom(viewer, zoom) {
  const item = viewer.world.getItemAt(0);
  if (item) {
    viewer.viewport.zoomTo(item.imageToViewportZoom(zoom));
    viewer.viewport.applyConstraints();
  }
}

function createViewer(element, config) {
  return window.OpenSeadragon({
    element,
    tileSources: config.dziUrl,
    prefixUrl: element.dataset.prefixUrl,
    showNavigator: true,
    navigatorPosition: "TOP_RIGHT",
    navigatorAutoFade: false,
    autoHideControls: false,
    showRotationControl: true,
    // Full screen takes the whole page (toolbar and panel too), see setUpFullScreen.
    showFullPageControl: false,
    // Two screen pixels per scanned pixel at most: beyond that there is nothing more to see.
    maxZoomPixelRatio: 2,
    minZoomImageRatio: 0.8,
    visibilityRatio: 1,
    constrainDuringPan: true,
    animationTime: 0.4,
    springStiffness: 9,
    blendTime: 0.1,
    zoomPerScroll: 1.25,
    // A click is the start of a pan far more often than a wish to zoom.
    gestureSettingsMouse: { clickToZoom: false, dblClickToZoom: true },
    gestureSettingsTouch: { pinchRotate: true },
    preserveImageSizeOnResize: true,
    // Canvas 2D rather than WebGL: as fast on a GPU for plain JPEG tiles, and several times
    // faster without one (virtual desktops, software rendering), where WebGL drops to a few fps.
    drawer: "canvas",
  });
}

function setUpReadouts(viewer, config, base) {
  const bar = document.getElementById("scale-bar");
  const line = bar.querySelector(".scale-bar-line");
  const label = bar.querySelector(".scale-bar-label");
  const readout = document.getElementById("zoom-readout");
  const presets = document.querySelectorAll("#magnification-presets [data-magnification]");
  document.getElementById("scale-unknown").hidden = config.mpp > 0;
  readout.title = base ? "Current magnification" : "Current zoom: screen pixels per slide pixel";

  const update = () => {
    const zoom = imageZoom(viewer);
    if (!zoom) return;
    if (config.mpp > 0) {
      const micronsPerPixel = config.mpp / zoom;
      const length = niceLength(SCALE_BAR_MAX_PX * micronsPerPixel);
      line.style.width = `${Math.round(length / micronsPerPixel)}px`;
      label.textContent = formatLength(length);
      bar.hidden = false;
    }
    if (base) {
      const magnification = base * zoom;
      readout.textContent = `${magnification.toFixed(1)}×`;
      for (const button of presets) {
        const preset = Number(button.dataset.magnification);
        button.classList.toggle("active", Math.abs(magnification / preset - 1) < 0.02);
      }
    } else {
      readout.textContent = `${Math.round(zoom * 100)}%`;
    }
  };
  for (const name of ["open", "animation", "animation-finish", "resize"]) {
    viewer.addHandler(name, update);
  }
}

function setUpPresets(viewer, base) {
  const group = document.getElementById("magnification-presets");
  if (!base) return;
  for (const button of group.querySelectorAll("[data-magnification]")) {
    const magnification = Number(button.dataset.magnification);
    button.hidden = magnification > base * PRESET_TOLERANCE;
    button.addEventListener("click", () => zoomToImageZoom(viewer, magnification / base));
  }
  group.hidden = false;
}

/** Wire the full-screen button; return the toggle for the keyboard shortcut. */
function setUpFullScreen() {
  const page = document.getElementById("viewer-page");
  const button = document.getElementById("fullscreen-button");
  if (!document.fullscreenEnabled) {
    button.hidden = true;
    return () => {};
  }
  const toggle = () => {
    const change = document.fullscreenElement
      ? document.exitFullscreen()
      : page.requestFullscreen();
    change.catch((error) => console.warn("Full screen refused:", error));
  };
  button.addEventListener("click", toggle);
  document.addEventListener("fullscreenchange", () => {
    button.textContent = document.fullscreenElement === page ? "Exit full screen" : "Full screen";
  });
  return toggle;
}

/**
 * Show or hide OpenSeadragon's navigator (the overview map in the top right corner, which can
 * cover tissue), remembered in localStorage for every slide; return the toggle for Shift+M.
 */
function setUpMinimap(viewer) {
  const button = document.getElementById("minimap-button");
  let visible = true;
  const show = (shown) => {
    visible = shown;
    // Navigator.setVisible also resizes it and redraws its box where the view now is.
    viewer.navigator?.setVisible(shown);
    if (button) {
      button.setAttribute("aria-pressed", String(shown));
      button.classList.toggle("active", shown);
    }
    try {
      localStorage.setItem(MINIMAP_KEY, shown ? "shown" : "hidden");
    } catch {
      // Storage may be full or refused (private windows): the choice then lasts for the page.
    }
  };
  let stored = null;
  try {
    stored = localStorage.getItem(MINIMAP_KEY);
  } catch {
    // As above: without storage the map starts shown.
  }
  const toggle = () => show(!visible);
  button?.addEventListener("click", toggle);
  if (stored === "hidden") show(false);
  return toggle;
}

function isEditable(target) {
  return target instanceof Element && target.closest("input, textarea, select, [contenteditable]");
}

function setUpShortcuts(viewer, toggleFullScreen, toggleMinimap) {
  const { viewport } = viewer;
  const { Collapse, Modal } = window.bootstrap;
  const helpElement = document.getElementById("shortcuts-modal");
  const help = Modal.getOrCreateInstance(helpElement);
  const panel = Collapse.getOrCreateInstance(document.getElementById("slide-panel"), {
    toggle: false,
  });
  const zoomBy = (factor) => {
    viewport.zoomBy(factor);
    viewport.applyConstraints();
  };
  const rotateBy = (degrees) => {
    viewport.setRotation(viewport.getRotation() + degrees);
    viewport.applyConstraints();
  };
  const home = () => viewport.goHome();
  const togglePanel = () => panel.toggle();
  const actions = {
    "+": () => zoomBy(ZOOM_STEP),
    "=": () => zoomBy(ZOOM_STEP),
    "-": () => zoomBy(1 / ZOOM_STEP),
    0: home,
    h: home,
    H: home,
    r: () => rotateBy(ROTATION_STEP),
    R: () => rotateBy(-ROTATION_STEP),
    f: toggleFullScreen,
    F: toggleFullScreen,
    i: togglePanel,
    I: togglePanel,
    // Shift: a plain M is the editor's ruler.
    M: toggleMinimap,
    "?": () => help.toggle(),
  };

  // Capture phase, so that OpenSeadragon's own handler on the focused canvas sees the event
  // as handled (defaultPrevented) and does not act on the same key a second time.
  document.addEventListener(
    "keydown",
    (event) => {
      if (event.ctrlKey || event.metaKey || event.altKey || isEditable(event.target)) return;
      // event.key of a letter follows Caps Lock; Shift alone decides the direction here.
      const key = /^[a-z]$/i.test(event.key)
        ? event.key[event.shiftKey ? "toUpperCase" : "toLowerCase"]()
        : event.key;
      const action = actions[key];
      const openModal = document.querySelector(".modal.show");
      // With a dialog open, only "?" acts, and only to close the help (Bootstrap handles Esc).
      if (!action || (openModal && !(openModal === helpElement && key === "?"))) return;
      event.preventDefault();
      action();
    },
    { capture: true },
  );
}

/** Start with the details panel closed where it would leave the image too little room. */
function foldPanelOnNarrowScreens() {
  if (window.matchMedia("(max-width: 991.98px)").matches) {
    document.getElementById("slide-panel").classList.remove("show");
    document.getElementById("panel-button").setAttribute("aria-expanded", "false");
  }
}

function showError(message) {
  const box = document.getElementById("viewer-error");
  box.textContent = message;
  box.hidden = false;
}

function startViewer(config) {
  foldPanelOnNarrowScreens();
  const element = document.getElementById("osd");
  const viewer = createViewer(element, config);
  const state = { viewer, config, tileFailures: 0 };
  const base = baseMagnification(config);

  viewer.addHandler("tile-load-failed", () => {
    state.tileFailures += 1;
  });
  viewer.addHandler("open", () => {
    document.body.dataset.viewerReady = "1";
  });
  viewer.addHandler("open-failed", () => {
    showError("The slide image could not be loaded. Reload the page to try again.");
  });
  setUpReadouts(viewer, config, base);
  setUpPresets(viewer, base);
  setUpShortcuts(viewer, setUpFullScreen(), setUpMinimap(viewer));
  return state;
}

/** Show a label, macro or thumbnail image in the modal, from the link that opened it. */
function setUpAssociatedImages() {
  const modal = document.getElementById("associated-modal");
  if (!modal) return;
  const image = modal.querySelector(".associated-full");
  modal.addEventListener("show.bs.modal", (event) => {
    const link = event.relatedTarget;
    image.src = link.href;
    image.alt = link.querySelector("img").alt;
    modal.querySelector(".modal-title").textContent = link.textContent.trim();
    modal.querySelector(".associated-open").href = link.href;
  });
}

const config = JSON.parse(document.getElementById("viewer-config").textContent);
setUpAssociatedImages();
const onPage = config.readable ? startViewer(config) : null;
window.wsi2mlViewer = onPage;

/**
 * The page's viewer: {viewer (OpenSeadragon), config (#viewer-config), tileFailures}, or null
 * when the slide cannot be displayed.
 */
export function viewerOnPage() {
  return onPage;
}

/** Call back once the slide's image has opened (at once if it has). */
/** Show the box (level-0 px of the slide) with half its size around it. */
export function flyToBox(viewer, [x0, y0, x1, y1]) {
  const item = viewer.world.getItemAt(0);
  if (!item) return;
  const pad = Math.max(x1 - x0, y1 - y0, 64) * 0.5;
  const rect = item.imageToViewportRectangle(
    x0 - pad,
    y0 - pad,
    x1 - x0 + 2 * pad,
    y1 - y0 + 2 * pad,
  );
  viewer.viewport.fitBoundsWithConstraints(rect);
}

export function whenOpen(viewer, callback) {
  if (viewer.world.getItemCount()) callback();
  else viewer.addOnceHandler("open", callback);
}
