/*
 * The layer panel: one row per layer of the overlay (name, count, a toggle, an opacity slider,
 * whether it is the person's own and editable or why it is read-only), and one switch for all
 * layers between colours by label and colours by person. Built here inside the page's
 * #layer-panel, which holds only its heading: the rows follow the layers the page was given.
 */

const byId = (id) => document.getElementById(id);

/** A new element with a class and text (set as text: data never becomes markup). */
export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

/** The row's words on editing: "Yours (editable)", or why the layer is read-only. */
export function editingNote(layer) {
  if (layer.own && layer.editable) return "Yours (editable)";
  if (layer.own) return `Yours, read-only: ${layer.readOnlyReason}`;
  return "Read-only";
}

export class LayerPanel {
  /**
   * @param {object} options overlay (its layers are listed, top first); container (the
   *   #layer-panel section); onToggle(layer) after a layer is shown or hidden.
   */
  constructor({ overlay, container = byId("layer-panel"), onToggle = () => {} }) {
    this.overlay = overlay;
    this.container = container;
    this.onToggle = onToggle;
    this.rows = new Map();
    if (!container) return;
    this.body = element("div", "layer-controls");
    this.body.append(this.colourSwitch(), this.list());
    container.append(this.body);
    // The uploaded layers are listed once fetched (addLayer): until then there may be none.
    container.hidden = !this.overlay.layers.length;
  }

  colourSwitch() {
    const group = element("fieldset", "layer-colour-by");
    const legend = element("legend", "small mb-0", "Colour by");
    legend.setAttribute("aria-hidden", "true");
    group.setAttribute("aria-label", "Colour the layers by");
    group.append(legend);
    for (const [value, text] of [
      ["label", "Label"],
      ["person", "Person"],
    ]) {
      const id = `layer-colour-by-${value}`;
      const wrap = element("div", "form-check form-check-inline");
      const input = element("input", "form-check-input");
      Object.assign(input, { type: "radio", name: "layer-colour-by", id, value });
      input.checked = this.overlay.display.colourBy === value;
      input.addEventListener("change", () => {
        if (input.checked) this.setColourBy(value);
      });
      const label = element("label", "form-check-label small");
      label.append(element("span", "visually-hidden", "Colour by "), text);
      label.htmlFor = id;
      wrap.append(input, label);
      group.append(wrap);
    }
    return group;
  }

  setColourBy(value) {
    this.overlay.display.colourBy = value;
    for (const input of this.container.querySelectorAll("input[name=layer-colour-by]")) {
      input.checked = input.value === value;
    }
    this.overlay.requestAll();
  }

  list() {
    this.ul = element("ul", "layer-list list-unstyled mb-0");
    this.ul.setAttribute("aria-label", "Layers");
    for (const layer of this.overlay.layers) this.ul.append(this.row(layer));
    return this.ul;
  }

  /**
   * Add a row for a layer added to the overlay after the panel was built, with ``extra`` (an
   * element: a model layer's own controls) at its end.
   */
  addLayer(layer, extra = null) {
    if (!this.container || this.rows.has(layer.id)) return;
    const index = this.overlay.layers.indexOf(layer);
    const row = this.row(layer);
    if (extra) row.append(extra);
    this.container.hidden = false;
    const after = this.overlay.layers.slice(index + 1).find((other) => this.rows.has(other.id));
    if (after) this.ul.insertBefore(row, this.rows.get(after.id).row);
    else this.ul.append(row);
  }

  row(layer) {
    const key = layer.id.replace(/[^\w-]/g, "_");
    const row = element("li", "layer-row");
    row.dataset.layer = layer.id;
    row.classList.toggle("layer-own", layer.own);

    const head = element("div", "form-check layer-head");
    const toggle = element("input", "form-check-input");
    Object.assign(toggle, { type: "checkbox", id: `layer-shown-${key}`, checked: layer.visible });
    toggle.dataset.layerToggle = layer.id;
    const label = element("label", "form-check-label layer-name");
    label.htmlFor = toggle.id;
    const swatch = element("span", "layer-swatch");
    swatch.style.backgroundColor = layer.colour;
    if (layer.dashed) swatch.classList.add("layer-swatch-dashed");
    label.append(element("span", "visually-hidden", "Show "), swatch, layer.name);
    label.title = layer.name;
    const count = element("span", "badge layer-count");
    count.setAttribute("aria-label", layer.countNoun || "annotations");
    head.append(toggle, label, count);
    toggle.addEventListener("change", () => this.setVisible(layer, toggle.checked));

    const note = element("p", "layer-note small mb-1");
    const opacityId = `layer-opacity-${key}`;
    const opacityLabel = element("label", "small layer-opacity-label", "Opacity");
    opacityLabel.htmlFor = opacityId;
    opacityLabel.append(element("span", "visually-hidden", ` of ${layer.name}`));
    const opacity = element("input", "form-range layer-opacity");
    Object.assign(opacity, { type: "range", id: opacityId, min: 0, max: 100, step: 5 });
    opacity.value = String(Math.round(layer.opacity * 100));
    opacity.addEventListener("input", () => {
      layer.opacity = Number(opacity.value) / 100;
      this.overlay.requestAll();
    });
    const slider = element("div", "layer-opacity-row");
    slider.append(opacityLabel, opacity);
    row.append(head, note, slider);
    this.rows.set(layer.id, { row, toggle, count, note });
    this.refreshRow(layer);
    return row;
  }

  setVisible(layer, visible) {
    layer.visible = visible;
    const entry = this.rows.get(layer.id);
    if (entry) entry.toggle.checked = visible;
    if (visible && layer.loader) layer.loader.load(!layer.loader.loaded);
    this.overlay.requestAll();
    this.onToggle(layer);
  }

  refreshRow(layer) {
    const entry = this.rows.get(layer.id);
    if (!entry) return;
    entry.count.textContent = layer.count == null ? "–" : layer.count.toLocaleString("en");
    entry.count.setAttribute(
      "aria-label",
      `${entry.count.textContent} ${layer.countNoun || "annotations"}`,
    );
    const words = [layer.kind === "annotations" ? editingNote(layer) : "", layer.note]
      .filter(Boolean)
      .join(" · ");
    entry.note.textContent = words;
    entry.note.title = layer.readOnlyReason || "";
    entry.note.hidden = !words;
  }

  /** Show the layers' counts and notes again. */
  refresh() {
    for (const layer of this.overlay.layers) this.refreshRow(layer);
  }
}
