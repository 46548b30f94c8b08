/*
 * Pointer and keyboard interaction of the editor: the drawing tools, selection, moving,
 * vertex editing, the ruler, and the shortcuts. Pointer events are caught in the capture
 * phase on the viewer element, before OpenSeadragon's own tracker; whatever a tool does not
 * take (or anything while Space is held) goes on to OpenSeadragon, which pans and zooms.
 */

import {
  POLYGONAL,
  difference,
  ellipseFrom,
  hits,
  lengthOf,
  polygonFrom,
  rectangleFrom,
  rounded,
  simplify,
  strokeGeometry,
  translate,
  union,
  areaOf,
  bboxOf,
} from "./geometry.js";

export const TOOLS = {
  select: { key: "v", title: "Select, move and edit" },
  polygon: { key: "p", title: "Polygon: click the corners; double-click or Enter closes it" },
  freehand: { key: "l", title: "Freehand: drag around the region" },
  rectangle: { key: "g", title: "Rectangle: drag" },
  ellipse: { key: "o", title: "Ellipse: drag" },
  point: { key: "x", title: "Point: click" },
  line: { key: "n", title: "Line: click the points; double-click or Enter ends it" },
  brush: { key: "b", title: "Brush: paint; [ and ] change the size" },
  eraser: { key: "e", title: "Eraser: rub out; [ and ] change the size" },
  ruler: { key: "m", title: "Ruler: drag to measure (not saved)" },
};

const DRAWING_TOOLS = new Set([
  "polygon",
  "freehand",
  "rectangle",
  "ellipse",
  "point",
  "line",
  "brush",
  "eraser",
  "ruler",
]);
const HANDLE_PX = 6;
const HIT_PX = 6;
const CLOSE_PX = 9;
const MAX_HANDLES = 1500;
const MERGEABLE = new Set(["polygon", "freehand", "brush"]);

const NOT_TYPED = new Set(["button", "checkbox", "radio", "range", "color", "reset", "submit"]);

/** Whether keys go to a field the user types in (a radio or a slider takes no letters). */
export function isTyping(target) {
  if (!(target instanceof Element)) return false;
  if (target instanceof HTMLInputElement) return !NOT_TYPED.has(target.type);
  return Boolean(target.closest("textarea, select, [contenteditable]"));
}

/** The rings of a geometry that can be edited vertex by vertex, with where they live. */
function editableRings(geometry) {
  if (geometry.type === "LineString")
    return [{ pi: 0, ri: 0, ring: geometry.coordinates, closed: false }];
  const polygons =
    geometry.type === "Polygon"
      ? [geometry.coordinates]
      : geometry.type === "MultiPolygon"
        ? geometry.coordinates
        : [];
  const rings = [];
  polygons.forEach((polygon, pi) =>
    polygon.forEach((ring, ri) => rings.push({ pi, ri, ring, closed: true })),
  );
  return rings;
}

/** A deep copy of the geometry with fn applied to the copy of one ring (which it may replace). */
function withRing(geometry, pi, ri, fn) {
  const copy = structuredClone(geometry);
  if (copy.type === "LineString") {
    copy.coordinates = fn(copy.coordinates);
    return copy.coordinates ? copy : null;
  }
  const polygons = copy.type === "Polygon" ? [copy.coordinates] : copy.coordinates;
  const ring = fn(polygons[pi][ri]);
  if (ring) {
    polygons[pi][ri] = ring;
  } else if (ri > 0) {
    polygons[pi].splice(ri, 1); // a hole with too few corners goes
  } else {
    return null;
  }
  return copy;
}

function setVertex(ring, vi, position, closed) {
  ring[vi] = position;
  if (closed && vi === 0) ring[ring.length - 1] = [...position];
  return ring;
}

export class Tools {
  constructor(editor) {
    this.editor = editor;
    this.overlay = editor.overlay;
    this.viewer = editor.viewer;
    this.tool = "select";
    this.draft = null;
    this.gesture = null;
    this.preview = null;
    this.ruler = null;
    this.pointer = null;
    this.space = false;
    this.vertex = null;
    this.press = null;
    this.brush = { size: 30, unit: "px" };
    this.listeners = new Set();
    const element = this.viewer.element;
    for (const type of [
      "pointerdown",
      "pointermove",
      "pointerup",
      "pointercancel",
      "click",
      "dblclick",
    ]) {
      element.addEventListener(type, (event) => this.onPointer(event), { capture: true });
    }
    element.addEventListener("pointerleave", () => {
      this.pointer = null;
      this.overlay.requestTop();
    });
    document.addEventListener("keydown", (event) => this.onKeyDown(event), { capture: true });
    document.addEventListener(
      "keyup",
      (event) => {
        if (event.key !== " " || !this.space) return;
        event.preventDefault(); // a focused button would take the Space as a click
        this.setSpace(false);
      },
      { capture: true },
    );
    window.addEventListener("blur", () => this.setSpace(false));
    this.overlay.addPainter((ctx) => this.drawTop(ctx));
  }

  onChange(listener) {
    this.listeners.add(listener);
  }

  notify() {
    for (const listener of this.listeners) listener(this);
  }

  setTool(tool) {
    if (!TOOLS[tool] || (this.editor.readOnly && tool !== "select" && tool !== "ruler")) return;
    this.cancel();
    this.tool = tool;
    this.ruler = null;
    const classes = this.viewer.element.classList;
    classes.toggle("tool-draw", DRAWING_TOOLS.has(tool) && tool !== "brush" && tool !== "eraser");
    classes.toggle("tool-brush", tool === "brush" || tool === "eraser");
    this.overlay.requestTop();
    this.notify();
  }

  setSpace(held) {
    if (this.space === held) return;
    this.space = held;
    this.viewer.element.classList.toggle("space-pan", held);
  }

  /** Brush radius in slide pixels at the current zoom. */
  brushRadius() {
    const { size, unit } = this.brush;
    const mpp = this.editor.config.mpp;
    if (unit === "um" && mpp > 0) return size / 2 / mpp;
    return size / 2 / this.overlay.scale;
  }

  setBrushSize(size) {
    this.brush.size = Math.max(1, Math.min(500, Math.round(size)));
    this.overlay.requestTop();
    this.notify();
  }

  /** Screen pixels between recorded points: brush strokes need far fewer than outlines. */
  spacing(draft) {
    return draft.radius ? Math.max(2, draft.radius * this.overlay.scale * 0.4) : 2;
  }

  screenDistance([ax, ay], [bx, by]) {
    const [sx, sy] = this.overlay.toScreen(ax, ay);
    const [tx, ty] = this.overlay.toScreen(bx, by);
    return Math.hypot(sx - tx, sy - ty);
  }

  // ---- pointer ----------------------------------------------------------------------------

  onPointer(event) {
    // With the pointer captured, events arrive at the viewer element itself.
    const inCanvas =
      this.viewer.canvas.contains(event.target) || event.target === this.viewer.element;
    if (!this.gesture && !inCanvas) return;
    const rect = this.viewer.canvas.getBoundingClientRect();
    this.pointer = [event.clientX - rect.left, event.clientY - rect.top];
    const position = this.overlay.eventToImage(event);
    switch (event.type) {
      case "pointerdown":
        this.onDown(event, position);
        break;
      case "pointermove":
        this.onMove(event, position);
        break;
      case "pointerup":
      case "pointercancel":
        this.onUp(event, position);
        break;
      case "dblclick":
        if (this.draft && (this.draft.type === "polygon" || this.draft.type === "line")) {
          this.consume(event);
          this.finish();
        } else if (this.tool !== "select") {
          this.consume(event);
        }
        break;
      default: // click
        if (this.tool !== "select") this.consume(event);
    }
  }

  consume(event) {
    event.stopPropagation();
    event.preventDefault();
  }

  take(event, gesture) {
    this.consume(event);
    this.viewer.element.setPointerCapture(event.pointerId);
    this.gesture = { pointerId: event.pointerId, start: this.pointer, moved: false, ...gesture };
  }

  onDown(event, position) {
    if (event.button !== 0 || this.space || this.gesture) return;
    const { editor } = this;
    switch (this.tool) {
      case "select":
        this.downSelect(event, position);
        break;
      case "polygon":
      case "line":
      case "point":
        this.take(event, { type: "click" });
        break;
      case "freehand":
        this.take(event, { type: "draw" });
        this.draft = { type: "freehand", points: [position] };
        break;
      case "rectangle":
      case "ellipse":
        this.take(event, { type: "draw" });
        this.draft = { type: this.tool, start: position, end: position };
        break;
      case "brush":
      case "eraser":
        if (editor.readOnly) return;
        this.take(event, { type: "draw" });
        this.draft = { type: this.tool, points: [position], radius: this.brushRadius() };
        break;
      case "ruler":
        this.take(event, { type: "draw" });
        this.ruler = { start: position, end: position };
        break;
      default:
    }
    this.overlay.requestTop();
  }

  downSelect(event, position) {
    const { editor } = this;
    const selected = editor.store.get(editor.selected);
    if (selected && !editor.readOnly) {
      const handle = this.handleAt(selected);
      if (handle) {
        this.vertex = handle.kind === "vertex" ? handle : null;
        if (handle.kind === "vertex" && event.altKey) {
          this.consume(event);
          this.deleteVertex(handle);
          return;
        }
        let geometry = selected.geometry;
        // A click on an edge midpoint alone adds a corner there.
        const inserting = handle.kind === "mid";
        if (inserting) {
          geometry = withRing(geometry, handle.pi, handle.ri, (ring) => {
            ring.splice(handle.vi + 1, 0, position);
            return ring;
          });
          handle.vi += 1;
          handle.kind = "vertex";
          this.vertex = handle;
        }
        this.take(event, {
          type: "vertex",
          feature: selected,
          geometry,
          handle,
          changed: inserting,
        });
        this.preview = geometry;
        return;
      }
    }
    // Dragging the selected shape moves it; anywhere else a drag pans and a click selects,
    // so that a slide covered in annotations can still be panned.
    const hit = this.featureAt(position);
    if (hit && hit.uuid === editor.selected && !editor.readOnly) {
      this.vertex = null;
      this.take(event, { type: "move", feature: hit, origin: position });
      return;
    }
    this.press = { pointer: this.pointer, position };
  }

  onMove(event, position) {
    const gesture = this.gesture;
    if (!gesture) {
      if (this.draft || this.tool === "brush" || this.tool === "eraser") this.overlay.requestTop();
      return;
    }
    this.consume(event);
    if (Math.hypot(this.pointer[0] - gesture.start[0], this.pointer[1] - gesture.start[1]) > 3) {
      gesture.moved = true;
    }
    const draft = this.draft;
    switch (gesture.type) {
      case "draw":
        if (this.ruler) this.ruler.end = position;
        else if (draft.start) draft.end = position;
        else if (this.screenDistance(draft.points.at(-1), position) >= this.spacing(draft))
          draft.points.push(position);
        break;
      case "move":
        if (gesture.moved) {
          const [x0, y0] = gesture.origin;
          this.preview = translate(gesture.feature.geometry, position[0] - x0, position[1] - y0);
        }
        break;
      case "vertex":
        if (gesture.moved) this.preview = this.movedVertex(gesture, position);
        break;
      default:
    }
    this.overlay.requestTop();
  }

  onUp(event, position) {
    const gesture = this.gesture;
    if (!gesture) {
      const press = this.press;
      this.press = null;
      if (
        press &&
        Math.hypot(this.pointer[0] - press.pointer[0], this.pointer[1] - press.pointer[1]) < 4
      ) {
        const hit = this.featureAt(press.position);
        this.vertex = null;
        this.editor.select(hit ? hit.uuid : null);
        if (!hit) this.editor.onEmptyClick(press.position);
      }
      return;
    }
    this.consume(event);
    if (this.viewer.element.hasPointerCapture(event.pointerId)) {
      this.viewer.element.releasePointerCapture(event.pointerId);
    }
    this.gesture = null;
    const { editor } = this;
    switch (gesture.type) {
      case "click":
        this.click(position);
        break;
      case "draw":
        if (this.draft && this.draft.radius && this.draft.points.length) {
          // The stroke reaches where the button was released.
          if (this.screenDistance(this.draft.points.at(-1), position) > 0.5) {
            this.draft.points.push(position);
          }
        }
        if (this.draft) this.finish();
        break;
      case "move":
        if (gesture.moved && this.preview)
          editor.update(gesture.feature.uuid, { geometry: this.preview });
        break;
      case "vertex":
        if ((gesture.moved || gesture.changed) && this.preview) {
          editor.update(gesture.feature.uuid, { geometry: this.preview });
        }
        break;
      default:
    }
    this.preview = null;
    this.overlay.requestTop();
  }

  click(position) {
    if (this.editor.readOnly) return;
    if (this.tool === "point") {
      this.editor.create("point", {
        type: "Point",
        coordinates: rounded({ type: "Point", coordinates: position }).coordinates,
      });
      return;
    }
    if (!this.draft) this.draft = { type: this.tool, points: [] };
    const points = this.draft.points;
    if (
      this.draft.type === "polygon" &&
      points.length >= 3 &&
      this.screenDistance(points[0], position) < CLOSE_PX
    ) {
      this.finish();
      return;
    }
    // The second click of a double-click lands on the last point: it ends, never adds.
    if (points.length && this.screenDistance(points.at(-1), position) < 3) return;
    points.push(position);
  }

  // ---- finishing shapes -------------------------------------------------------------------

  /** Turn the shape being drawn into an annotation (Enter, double-click, release). */
  finish() {
    const draft = this.draft;
    this.draft = null;
    this.overlay.requestTop();
    if (!draft) return;
    const { editor } = this;
    const small = (a, b) => this.screenDistance(a, b) < 3;
    switch (draft.type) {
      case "polygon":
      case "freehand":
        if (draft.points.length >= 3) {
          const geometry = simplify(polygonFrom(draft.points), this.invisibleDetail());
          if (areaOf(geometry) > 0) editor.create(draft.type, geometry);
        }
        break;
      case "line":
        if (draft.points.length >= 2) {
          editor.create("line", rounded({ type: "LineString", coordinates: draft.points }));
        }
        break;
      case "rectangle":
        if (!small(draft.start, draft.end))
          editor.create("rectangle", rectangleFrom(draft.start, draft.end));
        break;
      case "ellipse":
        if (!small(draft.start, draft.end))
          editor.create("ellipse", ellipseFrom(draft.start, draft.end));
        break;
      case "brush":
      case "eraser":
        try {
          const stroke = simplify(
            strokeGeometry(draft.points, draft.radius),
            this.invisibleDetail(),
          );
          if (draft.type === "brush") this.paint(stroke);
          else this.erase(stroke);
        } catch (error) {
          // polygon-clipping gives up on some degenerate inputs; the stroke is lost, not the shape.
          console.warn("Brush stroke failed:", error);
          editor.notice("That stroke could not be applied; please draw it again.");
        }
        break;
      default:
    }
  }

  /** Half a screen pixel in slide pixels: the detail a drawn outline may lose unseen. Only new
   * strokes and outlines are simplified, never a stored shape, whose detail may have been drawn
   * at a higher zoom. */
  invisibleDetail() {
    return 0.5 / this.overlay.scale;
  }

  /** Merge a brush stroke into the selected shape of the current label, or make a new one. */
  paint(stroke) {
    if (!stroke) return;
    const { editor } = this;
    const selected = editor.store.get(editor.selected);
    if (
      selected &&
      !selected.deleted &&
      MERGEABLE.has(selected.kind) &&
      selected.labelId === editor.currentLabel
    ) {
      const merged = union(selected.geometry, stroke);
      if (merged) editor.update(selected.uuid, { geometry: merged });
    } else {
      editor.create("brush", stroke);
    }
  }

  /** Subtract an eraser stroke from the selected shape, or from every shape it touches. */
  erase(stroke) {
    if (!stroke) return;
    const { editor } = this;
    const selected = editor.store.get(editor.selected);
    const [x0, y0, x1, y1] = bboxOf(stroke);
    let targets;
    if (selected && !selected.deleted && POLYGONAL.has(selected.kind)) {
      targets = [selected];
    } else {
      targets = [...editor.store.live()].filter(
        (f) =>
          POLYGONAL.has(f.kind) &&
          !editor.display.hidden.has(f.labelId) &&
          f.bbox[0] <= x1 &&
          f.bbox[2] >= x0 &&
          f.bbox[1] <= y1 &&
          f.bbox[3] >= y0,
      );
    }
    editor.group(() => {
      for (const feature of targets) {
        const rest = difference(feature.geometry, stroke);
        if (!rest) {
          editor.remove(feature.uuid);
        } else if (Math.abs(areaOf(rest) - areaOf(feature.geometry)) > 0.01) {
          const kind =
            feature.kind === "rectangle" || feature.kind === "ellipse" ? "polygon" : feature.kind;
          editor.update(feature.uuid, { geometry: rest, kind });
        }
      }
    });
  }

  cancel() {
    this.draft = null;
    this.preview = null;
    if (this.gesture && this.viewer.element.hasPointerCapture(this.gesture.pointerId)) {
      this.viewer.element.releasePointerCapture(this.gesture.pointerId);
    }
    this.gesture = null;
    this.overlay.requestTop();
  }

  // ---- hit testing and vertices -----------------------------------------------------------

  /** The smallest visible shape under the position (bounding boxes first). */
  featureAt([x, y]) {
    const { editor } = this;
    if (!editor.layer.visible) return null;
    const tolerance = HIT_PX / this.overlay.scale;
    let best = null;
    let bestArea = Infinity;
    const candidates = editor.store.reduced
      ? [...editor.store.live()].filter((f) => f.touched)
      : editor.store.live();
    for (const feature of candidates) {
      if (editor.display.hidden.has(feature.labelId)) continue;
      const [x0, y0, x1, y1] = feature.bbox;
      if (x < x0 - tolerance || x > x1 + tolerance || y < y0 - tolerance || y > y1 + tolerance)
        continue;
      const area = (x1 - x0) * (y1 - y0);
      if (area < bestArea && hits(feature.geometry, x, y, tolerance)) {
        best = feature;
        bestArea = area;
      }
    }
    return best;
  }

  /** Vertex handles and edge midpoints of the selected shape, in screen pixels. */
  handlesOf(feature, geometry = feature.geometry) {
    if (feature.kind === "point" || feature.kind === "ellipse") return [];
    const rings = editableRings(geometry);
    const total = rings.reduce((n, r) => n + r.ring.length, 0);
    if (total > MAX_HANDLES) return [];
    const handles = [];
    for (const { pi, ri, ring, closed } of rings) {
      const count = closed ? ring.length - 1 : ring.length;
      for (let vi = 0; vi < count; vi++) {
        const [sx, sy] = this.overlay.toScreen(...ring[vi]);
        handles.push({ kind: "vertex", pi, ri, vi, sx, sy });
        if (feature.kind === "rectangle" || (!closed && vi === count - 1)) continue;
        const next = ring[(vi + 1) % (closed ? count : ring.length)];
        const [tx, ty] = this.overlay.toScreen(...next);
        if (Math.hypot(tx - sx, ty - sy) > 4 * HANDLE_PX) {
          handles.push({ kind: "mid", pi, ri, vi, sx: (sx + tx) / 2, sy: (sy + ty) / 2 });
        }
      }
    }
    return handles;
  }

  handleAt(feature) {
    const [px, py] = this.pointer;
    const handles = this.handlesOf(feature);
    // Vertices first: a midpoint never hides a corner.
    for (const kind of ["vertex", "mid"]) {
      const handle = handles.find(
        (h) =>
          h.kind === kind && Math.abs(h.sx - px) <= HANDLE_PX && Math.abs(h.sy - py) <= HANDLE_PX,
      );
      if (handle) return handle;
    }
    return null;
  }

  movedVertex(gesture, position) {
    const { handle, geometry, feature } = gesture;
    const closed = geometry.type !== "LineString";
    if (feature.kind === "rectangle") {
      const ring = geometry.coordinates[0];
      return rectangleFrom(ring[(handle.vi + 2) % 4], position);
    }
    return withRing(geometry, handle.pi, handle.ri, (ring) =>
      setVertex(
        ring,
        handle.vi,
        position.map((v) => Math.round(v * 100) / 100),
        closed,
      ),
    );
  }

  deleteVertex(handle) {
    const { editor } = this;
    const feature = editor.store.get(editor.selected);
    if (!feature || editor.readOnly) return;
    const closed = feature.geometry.type !== "LineString";
    const geometry = withRing(feature.geometry, handle.pi, handle.ri, (ring) => {
      ring.splice(handle.vi, 1);
      if (closed && handle.vi === 0) ring[ring.length - 1] = [...ring[0]];
      return ring.length >= (closed ? 4 : 2) ? ring : null;
    });
    this.vertex = null;
    if (!geometry || (closed && areaOf(geometry) <= 0)) {
      editor.notice(
        "A shape needs at least three corners (a line two points): delete the shape instead.",
      );
      return;
    }
    editor.update(feature.uuid, {
      geometry,
      kind: feature.kind === "rectangle" ? "polygon" : feature.kind,
    });
  }

  // ---- keyboard -----------------------------------------------------------------------------

  onKeyDown(event) {
    if (event.defaultPrevented || isTyping(event.target) || document.querySelector(".modal.show"))
      return;
    const { editor } = this;
    const key = event.key;
    if (event.ctrlKey || event.metaKey) {
      const lower = key.toLowerCase();
      if (lower === "z" || lower === "y") {
        event.preventDefault();
        if (lower === "y" || event.shiftKey) editor.redo();
        else editor.undo();
      }
      return;
    }
    if (event.altKey) return;
    const act = (fn) => {
      event.preventDefault();
      fn();
    };
    if (key === " ") return act(() => this.setSpace(true));
    if (key === "Escape") {
      return act(() => {
        if (this.draft || this.gesture) this.cancel();
        else if (this.ruler) this.ruler = null;
        else editor.select(null);
        this.overlay.requestTop();
      });
    }
    if (key === "Enter" && this.draft) return act(() => this.finish());
    if ((key === "Backspace" || key === "Delete") && this.draft && this.draft.points) {
      return act(() => {
        this.draft.points.pop();
        if (!this.draft.points.length) this.draft = null;
        this.overlay.requestTop();
      });
    }
    if ((key === "Delete" || key === "Backspace") && editor.selected && !editor.readOnly) {
      return act(() => {
        if (this.vertex) this.deleteVertex(this.vertex);
        else editor.remove(editor.selected);
      });
    }
    if (key === "[" || key === "]")
      return act(() => this.setBrushSize(this.brush.size * (key === "]" ? 1.25 : 0.8)));
    const label = editor.labelForKey(key);
    if (label) return act(() => editor.setLabel(label.id));
    const lower = key.toLowerCase();
    const tool = Object.keys(TOOLS).find((name) => TOOLS[name].key === lower);
    if (tool && key.length === 1) act(() => this.setTool(tool));
  }

  // ---- top layer --------------------------------------------------------------------------

  drawTop(ctx) {
    const { editor, overlay } = this;
    const selected = editor.store.get(editor.selected);
    if (selected && !selected.deleted) this.drawSelected(ctx, selected);
    const draft = this.draft;
    const colour = editor.drawingColour(editor.currentLabel);
    if (draft) this.drawDraft(ctx, draft, colour);
    if (this.ruler) this.drawRuler(ctx);
    if ((this.tool === "brush" || this.tool === "eraser") && this.pointer && !this.space) {
      const radius = (draft && draft.radius ? draft.radius : this.brushRadius()) * overlay.scale;
      ctx.beginPath();
      ctx.arc(this.pointer[0], this.pointer[1], radius, 0, 2 * Math.PI);
      ctx.lineWidth = 2.5;
      ctx.strokeStyle = "rgba(0, 0, 0, 0.6)";
      ctx.stroke();
      ctx.lineWidth = 1.2;
      ctx.strokeStyle = this.tool === "eraser" ? "#fff" : colour;
      ctx.stroke();
    }
  }

  pathOf(geometry) {
    const path = new Path2D();
    if (geometry.type === "Point") {
      this.overlay.addPoint(path, ...geometry.coordinates, 7);
    } else {
      const rings = (
        geometry.type === "LineString"
          ? [geometry.coordinates]
          : editableRings(geometry).map((r) => r.ring)
      ).map((ring) => Float64Array.from(ring.flat()));
      this.overlay.addRings(path, rings, geometry.type !== "LineString");
    }
    return path;
  }

  drawSelected(ctx, feature) {
    const { editor } = this;
    const geometry = this.preview || feature.geometry;
    const path = this.pathOf(geometry);
    const colour = editor.drawingColour(feature.labelId);
    ctx.fillStyle = colour;
    ctx.globalAlpha = Math.min(1, editor.display.opacity + 0.15);
    if (geometry.type !== "LineString") ctx.fill(path);
    ctx.globalAlpha = 1;
    ctx.lineJoin = "round";
    ctx.strokeStyle = colour;
    ctx.lineWidth = editor.display.lineWidth + 2;
    ctx.stroke(path);
    ctx.setLineDash([6, 4]);
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 1.5;
    ctx.stroke(path);
    ctx.setLineDash([]);
    // Handles only where they can be used: with the select tool, not while moving the shape.
    if (editor.readOnly || this.tool !== "select" || this.gesture?.type === "move") return;
    for (const handle of this.handlesOf(feature, geometry)) {
      ctx.beginPath();
      if (handle.kind === "vertex") {
        ctx.rect(
          handle.sx - HANDLE_PX / 2 - 1,
          handle.sy - HANDLE_PX / 2 - 1,
          HANDLE_PX + 2,
          HANDLE_PX + 2,
        );
        const chosen =
          this.vertex &&
          this.vertex.pi === handle.pi &&
          this.vertex.ri === handle.ri &&
          this.vertex.vi === handle.vi;
        ctx.fillStyle = chosen ? "#ffd400" : "#fff";
      } else {
        ctx.arc(handle.sx, handle.sy, HANDLE_PX / 2, 0, 2 * Math.PI);
        ctx.fillStyle = "rgba(255, 255, 255, 0.6)";
      }
      ctx.fill();
      ctx.lineWidth = 1;
      ctx.strokeStyle = "#222";
      ctx.stroke();
    }
  }

  drawDraft(ctx, draft, colour) {
    const overlay = this.overlay;
    ctx.lineJoin = "round";
    ctx.lineCap = "round";
    if (draft.type === "rectangle" || draft.type === "ellipse") {
      const geometry =
        draft.type === "rectangle"
          ? rectangleFrom(draft.start, draft.end)
          : ellipseFrom(draft.start, draft.end);
      const path = this.pathOf(geometry);
      ctx.fillStyle = colour;
      ctx.globalAlpha = 0.25;
      ctx.fill(path);
      ctx.globalAlpha = 1;
      ctx.strokeStyle = colour;
      ctx.lineWidth = 2;
      ctx.stroke(path);
      return;
    }
    if (draft.type === "brush" || draft.type === "eraser") {
      this.drawStroke(ctx, draft, colour);
      return;
    }
    const { points } = draft;
    if (!points.length) return;
    const polygon = draft.type === "polygon";
    // The rubber band: from the last corner to the pointer and, for a polygon, on back to the
    // first corner, dashed (it is not drawn yet), over the faint fill of the polygon it makes.
    const clicked = polygon || draft.type === "line"; // a freehand outline follows the pointer
    const pointer =
      clicked && this.pointer && !this.space ? overlay.toImage(...this.pointer) : null;
    const band = pointer ? [points.at(-1), pointer] : [];
    if (pointer && polygon && points.length >= 2) {
      band.push(points[0]);
      const fill = new Path2D();
      overlay.addRings(fill, [Float64Array.from([...points, pointer].flat())], true);
      ctx.fillStyle = colour;
      ctx.globalAlpha = 0.15;
      ctx.fill(fill);
      ctx.globalAlpha = 1;
    }
    const drawn = new Path2D();
    overlay.addRings(drawn, [Float64Array.from(points.flat())], false);
    const rubber = new Path2D();
    if (band.length) overlay.addRings(rubber, [Float64Array.from(band.flat())], false);
    for (const [path, dash] of [
      [drawn, []],
      [rubber, [6, 4]],
    ]) {
      ctx.setLineDash(dash);
      ctx.strokeStyle = "rgba(0, 0, 0, 0.5)";
      ctx.lineWidth = 4;
      ctx.stroke(path);
      ctx.strokeStyle = colour;
      ctx.lineWidth = 2;
      ctx.stroke(path);
    }
    ctx.setLineDash([]);
    // The first corner grows when a click there would close the polygon.
    const closing =
      pointer &&
      polygon &&
      points.length >= 3 &&
      this.screenDistance(points[0], pointer) < CLOSE_PX;
    points.forEach(([x, y], i) => {
      const [sx, sy] = overlay.toScreen(x, y);
      const half = closing && i === 0 ? 6 : 3;
      ctx.beginPath();
      ctx.rect(sx - half, sy - half, 2 * half, 2 * half);
      ctx.fillStyle = "#fff";
      ctx.fill();
      ctx.strokeStyle = colour;
      ctx.lineWidth = 1.5;
      ctx.stroke();
    });
  }

  drawStroke(ctx, draft, colour) {
    const { overlay } = this;
    const { points } = draft;
    if (!points.length) return;
    ctx.globalAlpha = 0.45;
    ctx.strokeStyle = draft.type === "eraser" ? "#fff" : colour;
    ctx.lineWidth = 2 * draft.radius * overlay.scale;
    if (points.length === 1) {
      const [sx, sy] = overlay.toScreen(...points[0]);
      ctx.beginPath();
      ctx.arc(sx, sy, draft.radius * overlay.scale, 0, 2 * Math.PI);
      ctx.fillStyle = ctx.strokeStyle;
      ctx.fill();
    } else {
      const path = new Path2D();
      overlay.addRings(path, [Float64Array.from(points.flat())], false);
      ctx.stroke(path);
    }
    ctx.globalAlpha = 1;
  }

  drawRuler(ctx) {
    const { start, end } = this.ruler;
    const [ax, ay] = this.overlay.toScreen(...start);
    const [bx, by] = this.overlay.toScreen(...end);
    ctx.lineCap = "round";
    for (const [style, width] of [
      ["rgba(0, 0, 0, 0.7)", 4],
      ["#ffd400", 2],
    ]) {
      ctx.beginPath();
      ctx.moveTo(ax, ay);
      ctx.lineTo(bx, by);
      ctx.strokeStyle = style;
      ctx.lineWidth = width;
      ctx.stroke();
    }
    const text = this.editor.formatLength(
      lengthOf({ type: "LineString", coordinates: [start, end] }),
    );
    this.ruler.text = text;
    ctx.font = "600 13px system-ui, sans-serif";
    ctx.textAlign = "left";
    ctx.textBaseline = "bottom";
    ctx.lineWidth = 4;
    ctx.strokeStyle = "rgba(0, 0, 0, 0.8)";
    ctx.strokeText(text, bx + 8, by - 6);
    ctx.fillStyle = "#fff";
    ctx.fillText(text, bx + 8, by - 6);
  }
}
