// Weir console: the pipeline graph. Topics and processors as boxes in columns
// (each after what feeds it), an edge from each topic to the processors that read
// it, labelled with their lag, and from each processor to the topics it writes.
// An edge that closes a loop (a stage feeding an earlier one) arcs over the top.
// Drawn as SVG from the same polls as the tables (console.js calls drawGraph).
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const BOX = { w: 168, h: 38, gapX: 64, gapY: 18, margin: 12, loops: 36 };

/** An SVG element with attributes (`data` sets data-* attributes) and children. */
function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null) continue;
    if (key === "data") {
      for (const [k, v] of Object.entries(value)) node.setAttribute(`data-${k}`, v);
    } else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A manifest's input topics: `input`, or `inputs` when it has several. */
function inputsOf(m) {
  return m.inputs || (m.input ? [m.input] : []);
}

/**
 * Draws `processors` (the /v1/processors list) into #graph; `topicRate(name)` and
 * `processorRate(name)` give records/s or null; `fmt` formats numbers.
 */
function drawGraph(processors, topicRate, processorRate, fmt) {
  const body = document.querySelector("#graph .graph-body");
  const panel = document.getElementById("graph");
  const deployed = processors.filter((p) => p.manifest && p.manifest.name);
  if (!deployed.length) {
    body.replaceChildren(el("p", { class: "muted" }, "no processors deployed"));
    panel.dataset.status = "ok";
    return;
  }
  const nodes = new Map();
  const node = (id, kind, name) => {
    if (!nodes.has(id)) nodes.set(id, { id, kind, name, rank: 0 });
    return nodes.get(id);
  };
  const edges = [];
  for (const p of deployed) {
    const m = p.manifest;
    const pid = `p:${m.name}`;
    const processor = node(pid, "processor", m.name);
    processor.state = String((p.status && p.status.state) || "unknown");
    const workers = (p.status && p.status.partitions) || [];
    // One edge per input, labelled with the lag on that input.
    for (const input of inputsOf(m)) {
      node(`t:${input}`, "topic", input);
      const lag = sum(workers, (w) => {
        const at = (w.inputs || []).find((i) => i.topic === input);
        return at ? at.lag : w.lag;
      });
      edges.push({ from: `t:${input}`, to: pid, lag });
    }
    for (const out of m.outputs || []) {
      node(`t:${out}`, "topic", out);
      edges.push({ from: pid, to: `t:${out}` });
    }
  }
  // Columns: the longest path from a source, walking sources first; an edge back
  // onto the path being walked closes a loop and ranks nothing.
  const outgoing = new Map();
  for (const e of edges) outgoing.set(e.from, [...(outgoing.get(e.from) || []), e]);
  const fed = new Set(edges.map((e) => e.to));
  const seen = new Map();
  const order = [];
  const visit = (id) => {
    seen.set(id, "walking");
    for (const e of outgoing.get(id) || []) {
      if (seen.get(e.to) === "walking") e.loop = true;
      else if (!seen.has(e.to)) visit(e.to);
    }
    seen.set(id, "done");
    order.push(id);
  };
  const ids = [...nodes.keys()].sort((a, b) => Number(fed.has(a)) - Number(fed.has(b)));
  for (const id of ids) if (!seen.has(id)) visit(id);
  order.reverse();
  for (const id of order) {
    for (const e of outgoing.get(id) || []) {
      if (!e.loop) nodes.get(e.to).rank = Math.max(nodes.get(e.to).rank, nodes.get(id).rank + 1);
    }
  }
  const columns = [];
  for (const id of order) {
    const n = nodes.get(id);
    (columns[n.rank] = columns[n.rank] || []).push(n);
  }
  const top = BOX.margin + (edges.some((e) => e.loop) ? BOX.loops : 0);
  columns.forEach((column, c) =>
    column.forEach((n, r) => {
      n.x = BOX.margin + c * (BOX.w + BOX.gapX);
      n.y = top + r * (BOX.h + BOX.gapY);
    }),
  );
  const width = 2 * BOX.margin + columns.length * (BOX.w + BOX.gapX) - BOX.gapX;
  const height = top + BOX.margin + Math.max(...columns.map((c) => c.length)) * (BOX.h + BOX.gapY);

  const drawn = [];
  for (const e of edges) {
    const a = nodes.get(e.from);
    const b = nodes.get(e.to);
    let d;
    let labelAt;
    if (e.loop) {
      const y = BOX.margin;
      d = `M${a.x + BOX.w / 2},${a.y} C${a.x + BOX.w / 2},${y} ${b.x + BOX.w / 2},${y} ${b.x + BOX.w / 2},${b.y}`;
      labelAt = [(a.x + b.x + BOX.w) / 2, y + 10];
    } else {
      const [x1, y1, x2, y2] = [a.x + BOX.w, a.y + BOX.h / 2, b.x, b.y + BOX.h / 2];
      d = `M${x1},${y1} C${x1 + BOX.gapX / 2},${y1} ${x2 - BOX.gapX / 2},${y2} ${x2},${y2}`;
      labelAt = [x2 - 4, y2 - 5];
    }
    const behind = e.lag > 0;
    const edge = svg(
      "g",
      { class: `edge${e.loop ? " loop" : ""}${behind ? " behind" : ""}`, data: { edge: `${e.from} to ${e.to}`, loop: e.loop ? "true" : "false" } },
      svg("path", { d, "marker-end": "url(#arrow)" }),
    );
    if (e.lag !== undefined) {
      edge.append(svg("text", { x: labelAt[0], y: labelAt[1], "text-anchor": "end", data: { lag: e.lag } }, `lag ${fmt.int(e.lag)}`));
    }
    drawn.push(edge);
  }
  for (const n of nodes.values()) {
    const rate = n.kind === "topic" ? topicRate(n.name) : processorRate(n.name);
    const detail = n.kind === "topic" ? `${fmt.rate(rate)} rec/s` : `${n.state} · ${fmt.rate(rate)} rec/s`;
    drawn.push(
      svg(
        "g",
        { class: `node ${n.kind} ${n.state || ""}`, data: { "graph-node": n.id } },
        svg("rect", { x: n.x, y: n.y, width: BOX.w, height: BOX.h, rx: n.kind === "topic" ? 17 : 4 }),
        svg("text", { x: n.x + BOX.w / 2, y: n.y + 15, "text-anchor": "middle", class: "name" }, n.name),
        svg("text", { x: n.x + BOX.w / 2, y: n.y + 30, "text-anchor": "middle", class: "detail" }, detail),
      ),
    );
  }
  const arrow = svg(
    "defs",
    {},
    svg(
      "marker",
      { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
      svg("path", { d: "M0,0 L10,5 L0,10 z" }),
    ),
  );
  body.replaceChildren(
    svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "pipeline graph" }, arrow, ...drawn),
  );
  panel.dataset.status = "ok";
}
