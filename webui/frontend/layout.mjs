// Lay out BPMN diagram interchange (BPMNDI) for GovFlow's process models.
//
//   node layout.mjs [FILE.bpmn ...]      (default: every processes/**/*.bpmn)
//   node layout.mjs --check [FILE ...]   (exit 1 if a file's layout is missing or out of date)
//
// The semantic part of each file is left byte-for-byte as it is: the script reads the model with
// bpmn-moddle, computes a left-to-right layout, and writes only a <bpmndi:BPMNDiagram> block before
// </bpmn:definitions> (replacing the one it wrote before) plus the bpmndi/dc/di namespace declarations.
//
// Layout: the lanes of the process's laneSet are horizontal bands in document order; flow nodes get a
// column by longest path from the start (loops ignored) and a row inside their lane's band; a lane has
// as many rows as it needs where several of its nodes share a column.  Sequence flows are orthogonal:
// vertical runs use the gaps between columns and horizontal detours use the channels between rows, so
// lines do not cross shapes.  Boundary events sit on the bottom edge of their host.
//
// Note: SpiffWorkflow orders a node's outgoing flows by the y coordinate of their targets, which for an
// exclusive gateway is the order its conditions are tried in (tests/test_diagrams.py watches this).

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BpmnModdle } from 'bpmn-moddle';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');

const NS = {
  bpmndi: 'http://www.omg.org/spec/BPMN/20100524/DI',
  dc: 'http://www.omg.org/spec/DD/20100524/DC',
  di: 'http://www.omg.org/spec/DD/20100524/DI',
};

const SIZE = { task: [100, 80], gateway: [50, 50], event: [36, 36] };
const COLUMN = 100;          // widest shape (a task)
const GAP = 100;             // between columns: vertical runs of flows and flow labels
const ROW = 150;             // a row: a task (80) and room above and below
const ROW_BOUNDARY = 60;     // extra room below a row whose tasks carry boundary events (their labels)
const LANE_HEADER = 30;      // the band on the left of a lane with its name
const POOL_HEADER = 30;      // the band on the left of a participant (pool) with its name
const MARGIN = 40;           // inside a lane, before the first column and after the last
const ORIGIN = 0;
const LABEL_WIDTH = 90;
const LINE_HEIGHT = 14;
const CHARS_PER_LINE = 7;    // CJK characters at 11px in a 90px label

// --- reading the model -----------------------------------------------------------------------

function kindOf(element) {
  if (element.$instanceOf('bpmn:Gateway')) return 'gateway';
  if (element.$instanceOf('bpmn:Event')) return 'event';
  return 'task';
}

function readModel(definitions) {
  const processes = definitions.rootElements.filter((e) => e.$instanceOf('bpmn:Process'));
  if (processes.length !== 1) throw new Error(`expected one process, found ${processes.length}`);
  const process = processes[0];
  const collaboration = definitions.rootElements.find((e) => e.$instanceOf('bpmn:Collaboration')
    && (e.participants || []).some((p) => p.processRef === process));
  const participant = collaboration && collaboration.participants.find((p) => p.processRef === process);

  const elements = process.flowElements || [];
  const nodes = elements.filter((e) => e.$instanceOf('bpmn:FlowNode'));
  const flows = elements.filter((e) => e.$instanceOf('bpmn:SequenceFlow'));
  for (const node of nodes) {
    if (node.$instanceOf('bpmn:SubProcess')) throw new Error(`${node.id}: subprocesses are not laid out`);
  }
  const boundaries = nodes.filter((n) => n.$instanceOf('bpmn:BoundaryEvent'));
  const main = nodes.filter((n) => !n.$instanceOf('bpmn:BoundaryEvent'));

  const lanes = [];
  const visitLanes = (laneSet) => {
    for (const lane of (laneSet && laneSet.lanes) || []) {
      if (lane.childLaneSet && lane.childLaneSet.lanes && lane.childLaneSet.lanes.length) {
        throw new Error(`${lane.id}: nested lanes are not laid out`);
      }
      lanes.push(lane);
    }
  };
  (process.laneSets || []).forEach(visitLanes);
  const laneOf = new Map();
  lanes.forEach((lane, index) => (lane.flowNodeRef || []).forEach((n) => laneOf.set(n, index)));
  const unlaned = main.filter((n) => !laneOf.has(n));
  if (unlaned.length) {
    if (lanes.length) throw new Error(`not in any lane: ${unlaned.map((n) => n.id).join(', ')}`);
    unlaned.forEach((n) => laneOf.set(n, 0));
  }
  for (const b of boundaries) laneOf.set(b, laneOf.get(b.attachedToRef));
  return { process, collaboration, participant, nodes, main, boundaries, flows, lanes, laneOf };
}

// --- columns: longest path over the flows, back edges (loops) left out ---------------------------

function layoutSource(flow) {
  const source = flow.sourceRef;
  return source.$instanceOf('bpmn:BoundaryEvent') ? source.attachedToRef : source;
}

function findBackEdges(model) {
  const outgoing = new Map(model.main.map((n) => [n, []]));
  for (const flow of model.flows) outgoing.get(layoutSource(flow)).push(flow);
  const incomingCount = new Map(model.main.map((n) => [n, 0]));
  for (const flow of model.flows) incomingCount.set(flow.targetRef, incomingCount.get(flow.targetRef) + 1);

  const state = new Map();  // 1 = on the DFS stack, 2 = done
  const back = new Set();
  const visit = (node) => {
    state.set(node, 1);
    for (const flow of outgoing.get(node)) {
      const target = flow.targetRef;
      if (state.get(target) === 1) back.add(flow);
      else if (!state.has(target)) visit(target);
    }
    state.set(node, 2);
  };
  const roots = [
    ...model.main.filter((n) => n.$instanceOf('bpmn:StartEvent')),
    ...model.main.filter((n) => incomingCount.get(n) === 0),
    ...model.main,
  ];
  for (const node of roots) if (!state.has(node)) visit(node);
  return back;
}

function assignColumns(model, back) {
  const preds = new Map(model.main.map((n) => [n, []]));
  const succs = new Map(model.main.map((n) => [n, []]));
  for (const flow of model.flows) {
    if (back.has(flow)) continue;
    preds.get(flow.targetRef).push(layoutSource(flow));
    succs.get(layoutSource(flow)).push(flow.targetRef);
  }
  const column = new Map();
  const pending = new Map(model.main.map((n) => [n, preds.get(n).length]));
  const queue = model.main.filter((n) => pending.get(n) === 0);
  queue.forEach((n) => column.set(n, 0));
  while (queue.length) {
    const node = queue.shift();
    for (const next of succs.get(node)) {
      column.set(next, Math.max(column.get(next) ?? 0, column.get(node) + 1));
      pending.set(next, pending.get(next) - 1);
      if (pending.get(next) === 0) queue.push(next);
    }
  }
  // A node whose only successor is far to the right (e.g. a rejection before a shared end) stays put;
  // an end event or a node with no successors moves next to its latest predecessor (already so).
  return { column, preds, succs };
}

// --- rows inside each lane ---------------------------------------------------------------------

function assignRows(model, back, column, preds, laneRows = null) {
  const flowIndex = new Map(model.flows.map((f, i) => [f, i]));
  const row = new Map();
  const byColumn = new Map();
  for (const node of model.main) {
    const c = column.get(node);
    if (!byColumn.has(c)) byColumn.set(c, []);
    byColumn.get(c).push(node);
  }
  const columns = [...byColumn.keys()].sort((a, b) => a - b);
  const docIndex = new Map(model.main.map((n, i) => [n, i]));

  // the flow that brings the layout to a node: its first forward incoming flow in document order
  const primaryIn = new Map();
  for (const flow of model.flows) {
    if (back.has(flow)) continue;
    const target = flow.targetRef;
    if (!primaryIn.has(target)) primaryIn.set(target, flow);
  }
  const rowsOf = (lane) => (laneRows ? laneRows[lane] : 1);
  // where a placed node is, top to bottom: its lane, then its row inside the lane
  const height = (node) => model.laneOf.get(node) + row.get(node) / (rowsOf(model.laneOf.get(node)) + 1);

  for (const c of columns) {
    const inLane = new Map();
    for (const node of byColumn.get(c)) {
      const lane = model.laneOf.get(node);
      if (!inLane.has(lane)) inLane.set(lane, []);
      inLane.get(lane).push(node);
    }
    for (const [lane, nodes] of inLane) {
      const info = new Map(nodes.map((node) => {
        const placed = (preds.get(node) || []).filter((p) => row.has(p));
        const samelane = placed.filter((p) => model.laneOf.get(p) === lane);
        const mean = placed.length ? placed.reduce((sum, p) => sum + height(p), 0) / placed.length : lane;
        let wish = 0;
        let side = 'top';
        if (samelane.length) {
          const first = primaryIn.get(node);
          const source = first && layoutSource(first);
          wish = source && samelane.includes(source) ? row.get(source) : Math.min(...samelane.map((p) => row.get(p)));
          side = 'same';
        } else if (mean >= lane + 1) {
          side = 'bottom';  // comes from a lane below: keep it near the bottom of this lane
        }
        const first = primaryIn.get(node);
        const order = first ? flowIndex.get(first) : -1;
        const key = side === 'same' ? lane + wish / (rowsOf(lane) + 1) : mean;
        return [node, { wish, side, order, key }];
      }));
      const sorted = [...nodes].sort((a, b) => info.get(a).key - info.get(b).key
        || info.get(a).order - info.get(b).order || docIndex.get(a) - docIndex.get(b));
      const fromBelow = sorted.filter((n) => info.get(n).side === 'bottom');
      fromBelow.forEach((n, j) => {
        info.get(n).wish = Math.max(0, rowsOf(lane) - fromBelow.length + j);
      });
      let next = 0;
      for (const node of sorted) {
        const r = Math.max(info.get(node).wish, next);
        row.set(node, r);
        next = r + 1;
      }
    }
  }
  return row;
}

// drop the rows of a lane that no node uses
function compactRows(model, row) {
  const used = new Map();
  for (const node of model.main) {
    const lane = model.laneOf.get(node);
    if (!used.has(lane)) used.set(lane, new Set());
    used.get(lane).add(row.get(node));
  }
  const dense = new Map([...used].map(([lane, rows]) => [lane, [...rows].sort((a, b) => a - b)]));
  return new Map(model.main.map((node) => [node, dense.get(model.laneOf.get(node)).indexOf(row.get(node))]));
}

function rowsPerLane(model, row) {
  const rows = model.lanes.map(() => 1);
  for (const node of model.main) {
    const lane = model.laneOf.get(node);
    rows[lane] = Math.max(rows[lane] || 1, row.get(node) + 1);
  }
  return rows;
}

// --- coordinates -------------------------------------------------------------------------------

function labelHeight(text) {
  if (!text) return 0;
  const units = [...text].reduce((sum, ch) => sum + (ch.charCodeAt(0) > 0x2e7f ? 1 : 0.55), 0);
  return Math.max(1, Math.ceil(units / CHARS_PER_LINE)) * LINE_HEIGHT;
}

function geometry(model, column, row) {
  const hosts = new Set(model.boundaries.map((b) => b.attachedToRef));
  const laneRows = model.lanes.map(() => 1);
  const rowHeight = model.lanes.map(() => new Map());
  for (const node of model.main) {
    const lane = model.laneOf.get(node);
    const r = row.get(node);
    laneRows[lane] = Math.max(laneRows[lane], r + 1);
    const height = ROW + (hosts.has(node) ? ROW_BOUNDARY : 0);
    rowHeight[lane].set(r, Math.max(rowHeight[lane].get(r) || ROW, height));
  }
  const columns = Math.max(...model.main.map((n) => column.get(n))) + 1;
  const poolX = ORIGIN;
  const laneX = model.participant ? poolX + POOL_HEADER : ORIGIN;
  const firstColumnX = laneX + LANE_HEADER + MARGIN;
  const laneWidth = LANE_HEADER + MARGIN * 2 + columns * COLUMN + (columns - 1) * GAP;

  const lanes = [];
  const rows = [];  // per lane: [{top, height, center}]
  let y = ORIGIN;
  model.lanes.forEach((lane, index) => {
    const laneTop = y;
    const laneRowsGeo = [];
    for (let r = 0; r < laneRows[index]; r += 1) {
      const height = rowHeight[index].get(r) || ROW;
      laneRowsGeo.push({ top: y, height, center: y + ROW / 2 });
      y += height;
    }
    rows.push(laneRowsGeo);
    lanes.push({ element: lane, x: laneX, y: laneTop, width: laneWidth, height: y - laneTop });
  });
  if (!model.lanes.length) {
    rows.push([{ top: y, height: ROW, center: y + ROW / 2 }]);
    y += ROW;
  }
  const columnLeft = (c) => firstColumnX + c * (COLUMN + GAP);

  const shapes = new Map();
  for (const node of model.main) {
    const [w, h] = SIZE[kindOf(node)];
    const cx = columnLeft(column.get(node)) + COLUMN / 2;
    const cy = rows[model.laneOf.get(node)][row.get(node)].center;
    shapes.set(node, { x: cx - w / 2, y: cy - h / 2, width: w, height: h, cx, cy });
  }
  const attached = new Map();
  for (const b of model.boundaries) {
    if (!attached.has(b.attachedToRef)) attached.set(b.attachedToRef, []);
    attached.get(b.attachedToRef).push(b);
  }
  for (const [host, events] of attached) {
    const hs = shapes.get(host);
    events.forEach((b, i) => {
      const cx = hs.x + (hs.width * (i + 1)) / (events.length + 1);
      const cy = hs.y + hs.height;
      shapes.set(b, { x: cx - 18, y: cy - 18, width: 36, height: 36, cx, cy });
    });
  }
  const pool = model.participant
    ? { x: poolX, y: ORIGIN, width: laneWidth + POOL_HEADER, height: y - ORIGIN } : null;
  return { shapes, lanes, rows, pool, columnLeft, columns, bottom: y };
}

// --- routing -----------------------------------------------------------------------------------

class Router {
  constructor(model, geo, column, row) {
    this.model = model;
    this.geo = geo;
    this.column = column;
    this.row = row;
    this.boxes = [...geo.shapes.entries()].map(([el, s]) => ({ el, x1: s.x - 6, y1: s.y - 6, x2: s.x + s.width + 6, y2: s.y + s.height + 6 }));
    this.gapTracks = new Map();      // gap index -> [{x, y1, y2, owner}]
    this.channelTracks = new Map();  // "lane:row" -> [{y, x1, x2, owner}]
  }

  hits(x1, y1, x2, y2, ignore) {
    const [ax, bx] = [Math.min(x1, x2), Math.max(x1, x2)];
    const [ay, by] = [Math.min(y1, y2), Math.max(y1, y2)];
    return this.boxes.some((b) => !ignore.includes(b.el) && ax < b.x2 && bx > b.x1 && ay < b.y2 && by > b.y1);
  }

  pathHits(points, ignore) {
    for (let i = 0; i + 1 < points.length; i += 1) {
      const [p, q] = [points[i], points[i + 1]];
      // leave out the first and last few pixels, which touch the source and the target
      const trim = (a, b, t) => (a === b ? [a, b] : a < b ? [a + t, b - t] : [a - t, b + t]);
      const [x1, x2] = trim(p.x, q.x, i === 0 || i + 2 === points.length ? 8 : 0);
      const [y1, y2] = trim(p.y, q.y, i === 0 || i + 2 === points.length ? 8 : 0);
      if (this.hits(x1, y1, x2, y2, ignore)) return true;
    }
    return false;
  }

  gapCenter(gap) {
    return this.geo.columnLeft(gap) + COLUMN + GAP / 2;
  }

  // a vertical run in the gap right of column `gap`, from y1 to y2; shared with the same owner
  gapTrack(gap, y1, y2, owner) {
    const used = this.gapTracks.get(gap) || [];
    const [a, b] = [Math.min(y1, y2), Math.max(y1, y2)];
    for (const offset of [0, -12, 12, -24, 24, -36, 36, -48, 48]) {
      const x = this.gapCenter(gap) + offset;
      const clash = used.some((t) => t.x === x && t.owner !== owner && a < t.y2 + 6 && b > t.y1 - 6);
      if (!clash) {
        used.push({ x, y1: a, y2: b, owner });
        this.gapTracks.set(gap, used);
        return x;
      }
    }
    return this.gapCenter(gap);
  }

  // the channel below a row of a lane: a horizontal run from x1 to x2
  channel(lane, r, x1, x2, owner) {
    const geoRow = this.geo.rows[lane][r];
    const key = `${lane}:${r}`;
    const used = this.channelTracks.get(key) || [];
    const [a, b] = [Math.min(x1, x2), Math.max(x1, x2)];
    const base = geoRow.top + geoRow.height - 16;
    for (const offset of [0, -9, 9, -18]) {
      const y = base + offset;
      const clash = used.some((t) => t.y === y && t.owner !== owner && a < t.x2 + 6 && b > t.x1 - 6);
      if (!clash) {
        used.push({ y, x1: a, x2: b, owner });
        this.channelTracks.set(key, used);
        return y;
      }
    }
    return base;
  }

  // the channel between the source's row and the target's row (or below the source's row)
  channelBetween(source, target) {
    const ls = this.model.laneOf.get(source);
    const rs = this.rowOf(source);
    const lt = this.model.laneOf.get(target);
    const rt = this.rowOf(target);
    const above = lt < ls || (lt === ls && rt < rs);
    if (!above) return [ls, rs];
    if (rs > 0) return [ls, rs - 1];
    if (ls > 0) return [ls - 1, this.geo.rows[ls - 1].length - 1];
    return [ls, rs];
  }

  rowOf(node) {
    return this.row.get(node.$instanceOf('bpmn:BoundaryEvent') ? node.attachedToRef : node);
  }

  colOf(node) {
    return this.column.get(node.$instanceOf('bpmn:BoundaryEvent') ? node.attachedToRef : node);
  }

  route(flow, back) {
    const source = flow.sourceRef;
    const target = flow.targetRef;
    const s = this.geo.shapes.get(source);
    const t = this.geo.shapes.get(target);
    const ignore = [source, target];
    const cs = this.colOf(source);
    const ct = this.colOf(target);
    const owner = flow.id;
    const pt = (x, y) => ({ x: Math.round(x), y: Math.round(y) });

    if (source.$instanceOf('bpmn:BoundaryEvent')) {
      ignore.push(source.attachedToRef);
      const start = pt(s.cx, s.y + s.height);
      const [lane, r] = [this.model.laneOf.get(source), this.rowOf(source)];
      const gapB = ct - 1;
      const y = this.channel(lane, r, start.x, this.gapCenter(gapB), owner);
      const x = this.gapTrack(gapB, y, t.cy, `in:${target.id}`);
      return [start, pt(start.x, y), pt(x, y), pt(x, t.cy), pt(t.x, t.cy)];
    }

    if (!back.has(flow) && ct > cs) {
      const S = pt(s.x + s.width, s.cy);
      const T = pt(t.x, t.cy);
      if (S.y === T.y && !this.pathHits([S, T], ignore)) return [S, T];
      if (kindOf(source) === 'gateway' && T.y > S.y) {
        const down = [pt(s.cx, s.y + s.height), pt(s.cx, T.y), T];
        if (!this.pathHits(down, ignore)) return down;
      }
      if (kindOf(source) === 'gateway' && T.y < S.y) {
        const up = [pt(s.cx, s.y), pt(s.cx, T.y), T];
        if (!this.pathHits(up, ignore) && !source.name) return up;
      }
      const xa = this.gapCenter(cs);
      const viaA = [S, pt(xa, S.y), pt(xa, T.y), T];
      if (!this.pathHits(viaA, ignore)) {
        const x = this.gapTrack(cs, S.y, T.y, `out:${source.id}`);
        return [S, pt(x, S.y), pt(x, T.y), T];
      }
      const xb = this.gapCenter(ct - 1);
      const viaB = [S, pt(xb, S.y), pt(xb, T.y), T];
      if (!this.pathHits(viaB, ignore)) {
        const x = this.gapTrack(ct - 1, S.y, T.y, `in:${target.id}`);
        return [S, pt(x, S.y), pt(x, T.y), T];
      }
      const [lane, r] = this.channelBetween(source, target);
      const x1 = this.gapCenter(cs);
      const x2 = this.gapCenter(ct - 1);
      const y = this.channel(lane, r, x1, x2, owner);
      const gx1 = this.gapTrack(cs, S.y, y, `out:${source.id}`);
      const gx2 = this.gapTrack(ct - 1, y, T.y, `in:${target.id}`);
      return [S, pt(gx1, S.y), pt(gx1, y), pt(gx2, y), pt(gx2, T.y), T];
    }

    // back edge (a loop) or a flow into the same column: below the source's row, then into the target
    const S = pt(s.cx, s.y + s.height);
    const [lane, r] = [this.model.laneOf.get(source), this.rowOf(source)];
    const sameRow = this.model.laneOf.get(target) === lane && this.rowOf(target) === r;
    const targetHasBoundary = this.model.boundaries.some((b) => b.attachedToRef === target);
    if (sameRow && !targetHasBoundary) {
      const y = this.channel(lane, r, S.x, t.cx, `back:${target.id}`);
      return [S, pt(S.x, y), pt(t.cx, y), pt(t.cx, t.y + t.height)];
    }
    const gap = ct - 1;
    const xg = this.gapCenter(gap);
    const y = this.channel(lane, r, S.x, xg, `back:${target.id}`);
    const x = this.gapTrack(gap, y, t.cy, `in:${target.id}`);
    return [S, pt(S.x, y), pt(x, y), pt(x, t.cy), pt(t.x, t.cy)];
  }
}

// --- labels ------------------------------------------------------------------------------------

function overlaps(a, b) {
  return a.x < b.x + b.width && a.x + a.width > b.x && a.y < b.y + b.height && a.y + a.height > b.y;
}

function placeLabels(model, geo, edges) {
  const taken = [...geo.shapes.entries()]
    .filter(([el]) => kindOf(el) === 'task')
    .map(([, s]) => ({ x: s.x, y: s.y, width: s.width, height: s.height }));
  const labels = new Map();
  const take = (element, candidates) => {
    const free = candidates.find((c) => !taken.some((t) => overlaps(c, t))) || candidates[0];
    taken.push(free);
    labels.set(element, free);
  };
  for (const [node, s] of geo.shapes) {
    if (!node.name || kindOf(node) === 'task') continue;
    const height = labelHeight(node.name);
    const w = LABEL_WIDTH;
    if (node.$instanceOf('bpmn:BoundaryEvent')) {
      take(node, [
        { x: s.cx + 6, y: s.y + s.height + 2, width: w, height },
        { x: s.cx - w - 6, y: s.y + s.height + 2, width: w, height },
      ]);
    } else if (kindOf(node) === 'gateway') {
      take(node, [
        { x: s.cx - w / 2, y: s.y - height - 4, width: w, height },
        { x: s.cx - w / 2, y: s.y + s.height + 4, width: w, height },
      ]);
    } else {
      take(node, [
        { x: s.cx - w / 2, y: s.y + s.height + 4, width: w, height },
        { x: s.cx - w / 2, y: s.y - height - 4, width: w, height },
      ]);
    }
  }
  for (const [flow, points] of edges) {
    if (!flow.name) continue;
    const height = labelHeight(flow.name);
    const candidates = [];
    // horizontal runs, the last one (into the target) first, then the others
    const runs = [];
    for (let i = 0; i + 1 < points.length; i += 1) {
      const [p, q] = [points[i], points[i + 1]];
      if (p.y === q.y && Math.abs(q.x - p.x) >= 40) runs.push([p, q]);
    }
    runs.reverse();
    for (const [p, q] of runs) {
      const x = Math.min(p.x, q.x) + 6;
      candidates.push({ x, y: p.y - height - 3, width: LABEL_WIDTH, height });
      candidates.push({ x, y: p.y + 3, width: LABEL_WIDTH, height });
    }
    for (let i = 0; i + 1 < points.length; i += 1) {
      const [p, q] = [points[i], points[i + 1]];
      if (p.x === q.x && Math.abs(q.y - p.y) >= 30) {
        const y = (p.y + q.y) / 2 - height / 2;
        candidates.push({ x: p.x + 5, y, width: LABEL_WIDTH, height });
        candidates.push({ x: p.x - LABEL_WIDTH - 5, y, width: LABEL_WIDTH, height });
      }
    }
    if (!candidates.length) {
      const [p] = points;
      candidates.push({ x: p.x + 6, y: p.y - height - 3, width: LABEL_WIDTH, height });
    }
    take(flow, candidates);
  }
  return labels;
}

// --- writing -----------------------------------------------------------------------------------

const r = (v) => Math.round(v);
const bounds = (b) => `<dc:Bounds x="${r(b.x)}" y="${r(b.y)}" width="${r(b.width)}" height="${r(b.height)}"/>`;

function diagramXml(model, geo, edges, labels, usedIds) {
  const id = (base) => {
    let candidate = base;
    for (let n = 2; usedIds.has(candidate); n += 1) candidate = `${base}_${n}`;
    usedIds.add(candidate);
    return candidate;
  };
  const planeElement = model.collaboration || model.process;
  const out = [];
  out.push(`  <bpmndi:BPMNDiagram id="${id(`${model.process.id}_diagram`)}">`);
  out.push(`    <bpmndi:BPMNPlane id="${id(`${model.process.id}_plane`)}" bpmnElement="${planeElement.id}">`);
  const shape = (element, box, extra = '', label = null) => {
    out.push(`      <bpmndi:BPMNShape id="${id(`${element.id}_di`)}" bpmnElement="${element.id}"${extra}>`);
    out.push(`        ${bounds(box)}`);
    if (label) out.push(`        <bpmndi:BPMNLabel>${bounds(label)}</bpmndi:BPMNLabel>`);
    out.push('      </bpmndi:BPMNShape>');
  };
  if (geo.pool) shape(model.participant, geo.pool, ' isHorizontal="true"');
  for (const lane of geo.lanes) shape(lane.element, lane, ' isHorizontal="true"');
  for (const node of [...model.main, ...model.boundaries]) {
    shape(node, geo.shapes.get(node), '', labels.get(node));
  }
  for (const [flow, points] of edges) {
    out.push(`      <bpmndi:BPMNEdge id="${id(`${flow.id}_di`)}" bpmnElement="${flow.id}">`);
    for (const p of points) out.push(`        <di:waypoint x="${r(p.x)}" y="${r(p.y)}"/>`);
    const label = labels.get(flow);
    if (label) out.push(`        <bpmndi:BPMNLabel>${bounds(label)}</bpmndi:BPMNLabel>`);
    out.push('      </bpmndi:BPMNEdge>');
  }
  out.push('    </bpmndi:BPMNPlane>');
  out.push('  </bpmndi:BPMNDiagram>');
  return out.join('\n');
}

const DIAGRAM_BLOCK = /\n?[ \t]*<bpmndi:BPMNDiagram\b[\s\S]*?<\/bpmndi:BPMNDiagram>/g;

function stripDiagram(xml) {
  return xml.replace(DIAGRAM_BLOCK, '');
}

function declareNamespaces(xml) {
  const open = /<([A-Za-z_][\w.-]*:)?definitions\b[^>]*>/.exec(xml);
  if (!open) throw new Error('no <definitions> element');
  let tag = open[0];
  const missing = Object.entries(NS).filter(([prefix]) => !new RegExp(`\\sxmlns:${prefix}=`).test(tag));
  if (!missing.length) return xml;
  for (const [prefix, uri] of Object.entries(NS)) {
    const declared = new RegExp(`\\sxmlns:${prefix}="([^"]*)"`).exec(tag);
    if (declared && declared[1] !== uri) throw new Error(`prefix ${prefix} is bound to ${declared[1]}`);
  }
  // put each new declaration on its own line after the last xmlns declaration, aligned with it
  const decls = [...tag.matchAll(/(\s+)xmlns(:[\w.-]+)?="[^"]*"/g)];
  const last = decls[decls.length - 1];
  const end = last.index + last[0].length;
  const indent = last[1].includes('\n') ? last[1] : ' ';
  const added = missing.map(([prefix, uri]) => `${indent}xmlns:${prefix}="${uri}"`).join('');
  tag = tag.slice(0, end) + added + tag.slice(end);
  return xml.slice(0, open.index) + tag + xml.slice(open.index + open[0].length);
}

function insertDiagram(xml, block) {
  const close = xml.lastIndexOf('</');
  const tail = xml.slice(close);
  if (!/^<\/([A-Za-z_][\w.-]*:)?definitions>/.test(tail)) throw new Error('no </definitions> at the end');
  const before = xml.slice(0, close).replace(/[ \t]*$/, '');
  return `${before}${before.endsWith('\n') ? '' : '\n'}${block}\n${tail}`;
}

export async function layoutXml(xml) {
  const semantic = stripDiagram(xml);
  const moddle = new BpmnModdle();
  const { rootElement: definitions, elementsById } = await moddle.fromXML(semantic);
  const model = readModel(definitions);
  const back = findBackEdges(model);
  const { column, preds } = assignColumns(model, back);
  const firstRows = assignRows(model, back, column, preds);
  const row = compactRows(model, assignRows(model, back, column, preds, rowsPerLane(model, firstRows)));
  const geo = geometry(model, column, row);
  const router = new Router(model, geo, column, row);
  const edges = new Map();
  // straight and short flows first, so detours go around them
  const ordered = [...model.flows].sort((a, b) => {
    const span = (f) => (back.has(f) ? 1000 : Math.abs(router.colOf(f.targetRef) - router.colOf(f.sourceRef)));
    return span(a) - span(b);
  });
  for (const flow of ordered) edges.set(flow, router.route(flow, back));
  const inDocumentOrder = new Map(model.flows.map((f) => [f, edges.get(f)]));
  const labels = placeLabels(model, geo, inDocumentOrder);
  const usedIds = new Set(Object.keys(elementsById));
  const block = diagramXml(model, geo, inDocumentOrder, labels, usedIds);
  return insertDiagram(declareNamespaces(semantic), block);
}

function bpmnFiles(dir) {
  const found = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...bpmnFiles(full));
    else if (entry.name.endsWith('.bpmn')) found.push(full);
  }
  return found.sort();
}

async function main(argv) {
  const check = argv.includes('--check');
  const args = argv.filter((a) => a !== '--check');
  const files = args.length ? args.map((a) => path.resolve(a)) : bpmnFiles(path.join(REPO, 'processes'));
  let stale = 0;
  for (const file of files) {
    const xml = fs.readFileSync(file, 'utf8');
    const laid = await layoutXml(xml);
    const name = path.relative(REPO, file);
    if (laid === xml) {
      console.log(`${name}: up to date`);
    } else if (check) {
      console.log(`${name}: layout missing or out of date`);
      stale += 1;
    } else {
      fs.writeFileSync(file, laid);
      console.log(`${name}: laid out`);
    }
  }
  if (stale) process.exit(1);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(err.stack || String(err));
    process.exit(1);
  });
}
