/*
 * The export page (exports/project.html): as options change, the preview of what the export
 * holds is asked again of the preview API (debounced), and the Download link, the curl command
 * and the page's own address follow the same options. The form's field names are the API's
 * option names, so one query string serves all of them. A refused option is shown beside its
 * field with the API's message; the last good preview stays, marked as out of date.
 *
 * Reads #export-config (exports.views._config). For browser tests it sets
 * document.body.dataset.previewState = "loading" | "ready" | "error" and, once a preview has
 * been drawn, dataset.previewQuery to its options' canonical query string (ExportOptions.query).
 */

import { HttpError, jsonRequest } from "../annotations/sync.js";

const DEBOUNCE_MS = 250;
const byId = (id) => document.getElementById(id);
const numberFormat = new Intl.NumberFormat("en");
const count = (n) => numberFormat.format(n);
const plural = (n, word) => `${word}${n === 1 ? "" : "s"}`;

/** The form's options as the API reads them: ticked ids joined by commas, empty fields left out. */
export function optionsQuery(form, idLists) {
  const joined = new Map();
  for (const [name, raw] of new FormData(form)) {
    const value = String(raw).trim();
    if (!value) continue;
    if (idLists.includes(name) && joined.has(name)) joined.set(name, `${joined.get(name)},${value}`);
    else joined.set(name, value);
  }
  const query = new URLSearchParams();
  for (const [name, value] of joined) query.set(name, value);
  return query.toString();
}

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "className") node.className = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

function swatch(colour) {
  const node = element("span", { className: "label-swatch" });
  node.style.backgroundColor = colour;
  return node;
}

/** The same markup as exports/preview.html, from the preview API's answer. */
function previewNodes(preview, dropReasons) {
  const slides = preview.slides.length;
  const total = element(
    "p",
    { className: "mb-2 preview-total" },
    element("strong", { id: "preview-features" }, count(preview.features)),
    ` ${plural(preview.features, "feature")} on `,
    element("strong", { id: "preview-slides" }, count(slides)),
    ` ${plural(slides, "slide")}`,
  );
  const policy = element(
    "p",
    { className: "small app-muted mb-2", id: "preview-policy" },
    `Policy: ${preview.policy}.`,
  );
  const rows = preview.classes.map((item) =>
    element(
      "tr",
      { "data-class": item.name },
      element("td", {}, String(item.index)),
      element("td", {}, swatch(item.colour), item.name),
      element("td", { className: "small" }, item.labels.map((label) => label.name).join(", ")),
      element("td", { className: "text-end", "data-features": "" }, count(item.features)),
    ),
  );
  if (!rows.length) {
    rows.push(
      element(
        "tr",
        {},
        element("td", { colspan: "4", className: "app-muted" }, "No class: no label is chosen."),
      ),
    );
  }
  const classes = element(
    "table",
    { className: "table table-sm align-middle mb-3 preview-classes", id: "preview-classes" },
    element("caption", { className: "visually-hidden" }, "Features per export class"),
    element(
      "thead",
      {},
      element(
        "tr",
        {},
        ...["#", "Class", "Labels"].map((text) => element("th", { scope: "col" }, text)),
        element("th", { scope: "col", className: "text-end" }, "Features"),
      ),
    ),
    element("tbody", {}, ...rows),
  );
  const dropped = Object.entries(dropReasons)
    .filter(([reason]) => preview.dropped[reason])
    .map(([reason, words]) =>
      element(
        "li",
        { "data-reason": reason },
        element("strong", { "data-count": "" }, count(preview.dropped[reason])),
        ` ${words}`,
      ),
    );
  if (!dropped.length) dropped.push(element("li", { className: "app-muted" }, "Nothing."));
  const open = byId("preview-slide-list")?.open;
  const slideList = element(
    "details",
    { id: "preview-slide-list" },
    element("summary", { className: "small" }, "Features per slide"),
    element(
      "table",
      { className: "table table-sm mb-0 mt-2" },
      element("caption", { className: "visually-hidden" }, "Features per slide"),
      element(
        "thead",
        {},
        element(
          "tr",
          {},
          element("th", { scope: "col" }, "Slide"),
          element("th", { scope: "col", className: "text-end" }, "Features"),
        ),
      ),
      element(
        "tbody",
        {},
        ...preview.slides.map((slide) =>
          element(
            "tr",
            { "data-slide": String(slide.id) },
            element("td", {}, element("span", { title: slide.path }, slide.path)),
            element("td", { className: "text-end" }, count(slide.features)),
          ),
        ),
      ),
    ),
  );
  slideList.open = Boolean(open);
  return [
    total,
    policy,
    classes,
    element("h3", { className: "h6" }, "Left out by the review policy"),
    element("ul", { className: "list-unstyled small mb-3", id: "preview-dropped" }, ...dropped),
    slideList,
  ];
}

class ExportPage {
  constructor(config) {
    this.config = config;
    this.form = byId("export-form");
    this.download = byId("download");
    this.timer = null;
    this.asked = 0; // the number of the latest request: older answers are ignored
  }

  start() {
    for (const box of this.form.querySelectorAll("[data-enables]")) {
      this.syncEnabled(box);
      box.addEventListener("change", () => this.syncEnabled(box, { fill: true }));
    }
    this.form.addEventListener("input", () => this.schedule());
    this.form.addEventListener("change", () => this.schedule());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.refresh();
    });
    const copy = byId("copy-curl");
    if (navigator.clipboard) {
      copy.hidden = false;
      copy.addEventListener("click", () => this.copyCurl());
    }
    // The server drew the preview of the page's own options, and the links with their
    // canonical query string: no need to ask for it again.
    document.body.dataset.previewState = byId("preview-error").hidden ? "ready" : "error";
    document.body.dataset.previewQuery = new URL(this.download.href).search.slice(1);
  }

  /** A tick box's number field is sent only when the box is ticked (a disabled field is not). */
  syncEnabled(box, { fill = false } = {}) {
    const input = byId(box.dataset.enables);
    input.disabled = !box.checked;
    if (fill && box.checked && !input.value) input.value = input.placeholder;
    if (fill && box.checked) input.focus();
  }

  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), DEBOUNCE_MS);
  }

  async refresh() {
    clearTimeout(this.timer);
    const query = optionsQuery(this.form, this.config.idLists);
    const asked = ++this.asked;
    this.setState("loading", "Updating…");
    try {
      const url = query ? `${this.config.previewUrl}?${query}` : this.config.previewUrl;
      const preview = await jsonRequest("GET", url);
      if (asked !== this.asked) return;
      this.showPreview(preview);
    } catch (error) {
      if (asked !== this.asked) return;
      this.showError(error);
    }
  }

  /** Draw the preview; the links and the page's address take its canonical query string. */
  showPreview(preview) {
    const query = new URLSearchParams(preview.query).toString();
    this.clearErrors();
    byId("preview-body").replaceChildren(...previewNodes(preview, this.config.dropReasons));
    byId("preview-body").classList.remove("preview-stale");
    this.showLinks(query);
    this.download.classList.remove("disabled");
    this.download.removeAttribute("aria-disabled");
    this.download.removeAttribute("tabindex");
    history.replaceState(null, "", query ? `?${query}` : location.pathname);
    this.setState("ready", "Up to date.");
    document.body.dataset.previewQuery = query;
  }

  /** A refusal beside its field (or above the form when no field shows it); a failure to ask. */
  showError(error) {
    this.clearErrors();
    const refused = error instanceof HttpError && error.status < 500;
    const message = refused
      ? error.message
      : "The preview could not be updated (the server or the network failed); change an option or press “Update the preview” to try again.";
    if (refused) {
      const field = (error.data && error.data.field) || "";
      const target = this.form.querySelector(`[data-error-for="${CSS.escape(field)}"]`);
      (target || byId("form-error")).textContent = message;
      for (const input of this.form.querySelectorAll(`[name="${CSS.escape(field)}"]`)) {
        input.classList.add("is-invalid");
      }
      this.download.classList.add("disabled");
      this.download.setAttribute("aria-disabled", "true");
      this.download.setAttribute("tabindex", "-1");
    }
    const shown = byId("preview-error");
    shown.textContent = refused ? `${message} The preview below is of earlier options.` : message;
    shown.hidden = false;
    byId("preview-body").classList.add("preview-stale");
    this.setState("error", refused ? "These options cannot be exported." : "Not updated.");
  }

  clearErrors() {
    for (const node of this.form.querySelectorAll("[data-error-for]")) node.textContent = "";
    for (const node of this.form.querySelectorAll(".is-invalid")) node.classList.remove("is-invalid");
    byId("preview-error").hidden = true;
  }

  showLinks(query) {
    const href = query ? `${this.config.zipUrl}?${query}` : this.config.zipUrl;
    this.download.href = href;
    const absolute = new URL(href, location.href).href;
    byId("curl-command").textContent =
      `curl -H "Authorization: Bearer <token>" "${absolute}" -o export.zip`;
  }

  async copyCurl() {
    const state = byId("copy-state");
    try {
      await navigator.clipboard.writeText(byId("curl-command").textContent);
      state.textContent = "Copied.";
    } catch {
      state.textContent = "Select the command and copy it.";
    }
  }

  setState(state, text) {
    document.body.dataset.previewState = state;
    byId("preview-state").textContent = text;
  }
}

const config = JSON.parse(byId("export-config").textContent);
new ExportPage(config).start();
