/*
 * Client-side geometry of the annotation editor, in level-0 slide pixels (GeoJSON, y down).
 *
 * The server's annotations/geometry.py stays the authority (validation, repair, clipping,
 * areas); this module only builds shapes while drawing, hit-tests them, and does the boolean
 * operations of the brush and eraser with the vendored polygon-clipping (global polygonClipping).
 */

const ROUND = 100; // the server keeps 0.01 px

export const POLYGONAL = new Set(["polygon", "freehand", "rectangle", "ellipse", "brush"]);

export function roundCoordinate(value) {
  return Math.round(value * ROUND) / ROUND;
}

/** The polygons of a Polygon or MultiPolygon as arrays of rings, [] for other types. */
export function polygonsOf(geometry) {
  if (geometry.type === "Polygon") return [geometry.coordinates];
  if (geometry.type === "MultiPolygon") return geometry.coordinates;
  return [];
}

/** Every ring or line of a geometry, as arrays of [x, y]; a point is a one-position line. */
export function linesOf(geometry) {
  switch (geometry.type) {
    case "Point":
      return [[geometry.coordinates]];
    case "LineString":
      return [geometry.coordinates];
    case "Polygon":
      return geometry.coordinates;
    case "MultiPolygon":
      return geometry.coordinates.flat();
    default:
      return [];
  }
}

export function bboxOf(geometry) {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const line of linesOf(geometry)) {
    for (const [x, y] of line) {
      if (x < x0) x0 = x;
      if (y < y0) y0 = y;
      if (x > x1) x1 = x;
      if (y > y1) y1 = y;
    }
  }
  return [x0, y0, x1, y1];
}

export function signedArea(ring) {
  let sum = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    sum += (ring[j][0] - ring[i][0]) * (ring[j][1] + ring[i][1]);
  }
  return sum / 2;
}

/** Area in px² (holes subtracted). */
export function areaOf(geometry) {
  let total = 0;
  for (const polygon of polygonsOf(geometry)) {
    polygon.forEach((ring, index) => {
      total += (index === 0 ? 1 : -1) * Math.abs(signedArea(ring));
    });
  }
  return total;
}

export function lengthOf(geometry) {
  if (geometry.type !== "LineString") return 0;
  let total = 0;
  const line = geometry.coordinates;
  for (let i = 1; i < line.length; i++) {
    total += Math.hypot(line[i][0] - line[i - 1][0], line[i][1] - line[i - 1][1]);
  }
  return total;
}

/**
 * Rings ready to draw as flat arrays, outer rings one way round and holes the other, so that
 * the non-zero fill rule shows holes and overlapping shapes of one label batched in one path.
 */
export function drawingRings(geometry) {
  const rings = [];
  const flat = (ring) => {
    const array = new Float64Array(ring.length * 2);
    ring.forEach(([x, y], i) => {
      array[2 * i] = x;
      array[2 * i + 1] = y;
    });
    return array;
  };
  for (const polygon of polygonsOf(geometry)) {
    polygon.forEach((ring, index) => {
      const clockwise = signedArea(ring) > 0;
      const wanted = index === 0;
      rings.push(flat(clockwise === wanted ? ring : [...ring].reverse()));
    });
  }
  if (geometry.type === "LineString") rings.push(flat(geometry.coordinates));
  return rings;
}

function pointInRing(x, y, ring) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

export function distanceToSegment(x, y, [ax, ay], [bx, by]) {
  const dx = bx - ax;
  const dy = by - ay;
  const length2 = dx * dx + dy * dy;
  const t = length2 ? Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / length2)) : 0;
  return Math.hypot(x - (ax + t * dx), y - (ay + t * dy));
}

/** Whether (x, y) hits the geometry, within tolerance (slide px) of a point, line or outline. */
export function hits(geometry, x, y, tolerance) {
  if (geometry.type === "Point") {
    const [px, py] = geometry.coordinates;
    return Math.hypot(px - x, py - y) <= tolerance;
  }
  for (const line of linesOf(geometry)) {
    for (let i = 1; i < line.length; i++) {
      if (distanceToSegment(x, y, line[i - 1], line[i]) <= tolerance) return true;
    }
  }
  return polygonsOf(geometry).some(
    (polygon) =>
      pointInRing(x, y, polygon[0]) && !polygon.slice(1).some((hole) => pointInRing(x, y, hole)),
  );
}

export function mapCoordinates(geometry, transform) {
  const map = (position) => transform(position);
  switch (geometry.type) {
    case "Point":
      return { type: "Point", coordinates: map(geometry.coordinates) };
    case "LineString":
      return { type: "LineString", coordinates: geometry.coordinates.map(map) };
    case "Polygon":
      return { type: "Polygon", coordinates: geometry.coordinates.map((r) => r.map(map)) };
    default:
      return {
        type: "MultiPolygon",
        coordinates: geometry.coordinates.map((p) => p.map((r) => r.map(map))),
      };
  }
}

export function translate(geometry, dx, dy) {
  return mapCoordinates(geometry, ([x, y]) => [roundCoordinate(x + dx), roundCoordinate(y + dy)]);
}

export function rounded(geometry) {
  return mapCoordinates(geometry, ([x, y]) => [roundCoordinate(x), roundCoordinate(y)]);
}

function closed(points) {
  const ring = points.map(([x, y]) => [roundCoordinate(x), roundCoordinate(y)]);
  ring.push([...ring[0]]);
  return ring;
}

export function polygonFrom(points) {
  return { type: "Polygon", coordinates: [closed(points)] };
}

export function rectangleFrom([ax, ay], [bx, by]) {
  const [x0, x1] = [Math.min(ax, bx), Math.max(ax, bx)];
  const [y0, y1] = [Math.min(ay, by), Math.max(ay, by)];
  return polygonFrom([
    [x0, y0],
    [x1, y0],
    [x1, y1],
    [x0, y1],
  ]);
}

/** The 64-vertex polygon the server stores for an ellipse inscribed in the dragged box. */
export function ellipseFrom([ax, ay], [bx, by], segments = 64) {
  const cx = (ax + bx) / 2;
  const cy = (ay + by) / 2;
  const rx = Math.abs(bx - ax) / 2;
  const ry = Math.abs(by - ay) / 2;
  const points = [];
  for (let i = 0; i < segments; i++) {
    const angle = (2 * Math.PI * i) / segments;
    points.push([cx + rx * Math.cos(angle), cy + ry * Math.sin(angle)]);
  }
  return polygonFrom(points);
}

function arcPoints(cx, cy, radius, from, to, steps) {
  const points = [];
  for (let i = 0; i <= steps; i++) {
    const angle = from + ((to - from) * i) / steps;
    points.push([cx + radius * Math.cos(angle), cy + radius * Math.sin(angle)]);
  }
  return points;
}

/** A capsule around the segment a–b (a circle when a = b), as polygon-clipping coordinates. */
function capsule([ax, ay], [bx, by], radius) {
  const steps = 12;
  if (Math.hypot(bx - ax, by - ay) < 1e-6) {
    return [closed(arcPoints(ax, ay, radius, 0, 2 * Math.PI, 2 * steps).slice(0, -1))];
  }
  const angle = Math.atan2(by - ay, bx - ax);
  const half = Math.PI / 2;
  const points = [
    ...arcPoints(bx, by, radius, angle - half, angle + half, steps),
    ...arcPoints(ax, ay, radius, angle + half, angle + 3 * half, steps),
  ];
  return [closed(points)];
}

function fromClipping(multi) {
  const polygons = multi
    .map((polygon) =>
      polygon.map((ring) => ring.map(([x, y]) => [roundCoordinate(x), roundCoordinate(y)])),
    )
    .filter((polygon) => polygon[0].length >= 4 && Math.abs(signedArea(polygon[0])) > 0.01);
  if (!polygons.length) return null;
  if (polygons.length === 1) return { type: "Polygon", coordinates: polygons[0] };
  return { type: "MultiPolygon", coordinates: polygons };
}

function clippingOf(geometry) {
  return geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
}

/** Squared distance from p to the segment a–b. */
function segmentDistance2([px, py], [ax, ay], [bx, by]) {
  const dx = bx - ax;
  const dy = by - ay;
  const length2 = dx * dx + dy * dy;
  const t = length2 ? Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / length2)) : 0;
  const x = ax + t * dx - px;
  const y = ay + t * dy - py;
  return x * x + y * y;
}

/** A closed ring with the corners that lie within tolerance of their neighbours' line removed
 * (Douglas–Peucker); the ring itself when fewer than three corners would be left. */
function simplifyRing(ring, tolerance) {
  const keep = new Uint8Array(ring.length);
  keep[0] = keep[ring.length - 1] = 1;
  const spans = [[0, ring.length - 1]];
  const limit = tolerance * tolerance;
  while (spans.length) {
    const [first, last] = spans.pop();
    let farthest = -1;
    let distance = limit;
    for (let i = first + 1; i < last; i++) {
      const d = segmentDistance2(ring[i], ring[first], ring[last]);
      if (d > distance) {
        distance = d;
        farthest = i;
      }
    }
    if (farthest >= 0) {
      keep[farthest] = 1;
      spans.push([first, farthest], [farthest, last]);
    }
  }
  const simpler = ring.filter((_, i) => keep[i]);
  return simpler.length >= 4 ? simpler : ring;
}

/** A Polygon or MultiPolygon with every ring simplified to within ``tolerance`` slide pixels:
 * hand-drawn outlines and brush strokes carry many corners that nobody could see. */
export function simplify(geometry, tolerance) {
  if (!geometry || !(tolerance > 0)) return geometry;
  const polygon = (rings) => rings.map((ring) => simplifyRing(ring, tolerance));
  if (geometry.type === "Polygon")
    return { ...geometry, coordinates: polygon(geometry.coordinates) };
  if (geometry.type === "MultiPolygon") {
    return { ...geometry, coordinates: geometry.coordinates.map(polygon) };
  }
  return geometry;
}

/** The union of round-ended capsules along a brush path, or null for an empty path. */
export function strokeGeometry(points, radius) {
  if (!points.length) return null;
  const parts = [];
  if (points.length === 1) parts.push(capsule(points[0], points[0], radius));
  for (let i = 1; i < points.length; i++) parts.push(capsule(points[i - 1], points[i], radius));
  return fromClipping(window.polygonClipping.union(...parts));
}

export function union(a, b) {
  return fromClipping(window.polygonClipping.union(clippingOf(a), clippingOf(b)));
}

/** a minus b, or null when nothing is left. */
export function difference(a, b) {
  return fromClipping(window.polygonClipping.difference(clippingOf(a), clippingOf(b)));
}

export function boxesIntersect(a, b) {
  return a[0] <= b[2] && a[2] >= b[0] && a[1] <= b[3] && a[3] >= b[1];
}
