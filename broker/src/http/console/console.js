// Weir console: polls the broker's HTTP API every 2 s and renders its topics,
// consumer groups and processors, and the pipeline they make as a graph
// (graph.js). A processor's logs (followed) and its latest
// dead letters open in a panel below, addressed by the URL's hash
// (#logs/NAME, #dead-letters/NAME). Plain JavaScript, no dependencies.
//
// Every failure lands in the banner at the top: a route that answers an error
// (or is missing) shows "unavailable" in its panel, never a script error.
"use strict";

/** How often every panel is refreshed, ms. */
const POLL_MS = 2000;
/** Log lines shown when the log panel opens. */
const LOG_TAIL = 200;
/** Log lines kept in the log panel as it follows. */
const LOG_KEEP = 500;
/** Log lines asked for per request (the route's maximum is 10,000). */
const LOG_PAGE = 5000;
/** Latest dead letters shown per partition of a dead-letter topic. */
const DEAD_LETTERS = 20;

const $ = (id) => document.getElementById(id);

/** An element with attributes (`data` sets data-* attributes) and children. */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null) continue;
    if (key === "data") Object.assign(node.dataset, value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const num = (value) => el("td", { class: "num" }, value);
const sum = (items, f) => items.reduce((total, item) => total + (Number(f(item)) || 0), 0);

const format = {
  int: (n) => (n === null || n === undefined ? "–" : Math.round(n).toLocaleString("en-US")),
  rate: (r) => (r === null ? "–" : r < 10 && r > 0 ? r.toFixed(1) : format.int(r)),
  bytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i += 1;
    }
    return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
  },
  duration(ms) {
    const s = Math.floor(ms / 1000);
    const [d, h, m] = [Math.floor(s / 86400), Math.floor(s / 3600) % 24, Math.floor(s / 60) % 60];
    if (d > 0) return `${d}d ${h}h`;
    if (h > 0) return `${h}h ${m}m`;
    return m > 0 ? `${m}m ${s % 60}s` : `${s}s`;
  },
  time: (ms) => new Date(ms).toLocaleTimeString("en-GB", { hour12: false }),
};

// ---- The banner: one line per failing source, cleared when it recovers.

const problems = new Map();

function problem(source, message) {
  if (message) problems.set(source, message);
  else problems.delete(source);
  const banner = $("banner");
  banner.replaceChildren(...[...problems.values()].map((m) => el("div", {}, m)));
  banner.hidden = problems.size === 0;
}

window.addEventListener("error", (e) => problem("script", `console error: ${e.message}`));
window.addEventListener("unhandledrejection", (e) =>
  problem("script", `console error: ${e.reason && e.reason.message ? e.reason.message : e.reason}`),
);

/** GET `path` as JSON; throws an Error whose message is the API's own. */
async function api(path) {
  let response;
  try {
    response = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
  } catch (e) {
    throw new Error(`GET ${path}: the broker cannot be reached (${e.message})`);
  }
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    const why = body && typeof body.error === "string" ? body.error : `HTTP ${response.status}`;
    throw new Error(`GET ${path}: ${why}`);
  }
  if (body === undefined) throw new Error(`GET ${path}: the answer is not JSON`);
  return body;
}

function expectList(path, body) {
  if (!Array.isArray(body)) throw new Error(`GET ${path}: expected a list`);
  return body;
}

/** Per-second rates of counters, from one poll to the next. */
class Rates {
  constructor() {
    this.last = new Map();
  }

  /** The rate of `key` since the previous call, or null (first sight, or a reset). */
  update(key, value, now) {
    const previous = this.last.get(key);
    this.last.set(key, { value, now });
    if (!previous || now <= previous.now || value < previous.value) return null;
    return ((value - previous.value) * 1000) / (now - previous.now);
  }
}

// ---- Panels: a table body filled by one route.

/** Fills panel `id`'s table with `rows` (or a line saying there are none). */
function fill(id, rows, empty) {
  const panel = $(id);
  const columns = panel.querySelectorAll("thead th").length;
  const body = rows.length
    ? rows
    : [el("tr", { class: "placeholder" }, el("td", { colspan: columns }, empty))];
  panel.querySelector("tbody").replaceChildren(...body);
  panel.querySelector(".count").textContent = rows.length ? `(${rows.length})` : "";
  panel.dataset.status = "ok";
}

/** Marks panel `id` as unavailable; the reason is in the banner. */
function unavailable(id) {
  const panel = $(id);
  const columns = panel.querySelectorAll("thead th").length;
  const row = el("tr", { class: "placeholder" }, el("td", { colspan: columns }, "unavailable"));
  panel.querySelector("tbody").replaceChildren(row);
  panel.querySelector(".count").textContent = "";
  panel.dataset.status = "unavailable";
}

/** GETs `path` and renders it; on failure marks the panel and says why. */
async function poll(id, path, render) {
  try {
    render(await api(path));
    problem(id, null);
  } catch (e) {
    problem(id, e.message);
    if (id === "cluster") renderCluster(null);
    else unavailable(id);
  }
}

/** The broker's uptime (ms) from the latest /v1/cluster: rates are measured on the
 * broker's clock, so they hold even when the browser's clock is not real time
 * (a headless browser's virtual time); the browser's clock without it. */
let brokerClock = null;

function clock() {
  return brokerClock ?? Date.now();
}

function renderCluster(cluster) {
  brokerClock = cluster ? cluster.uptime_ms : null;
  const fields = ["kafka_address", "cluster_id", "node_id", "version", "uptime_ms"];
  for (const field of fields) {
    const id = field === "uptime_ms" ? "uptime" : field.replace("_", "-");
    let text = cluster ? cluster[field] : "unavailable";
    if (cluster && field === "uptime_ms") text = format.duration(cluster.uptime_ms);
    $(id).textContent = text === undefined ? "–" : text;
  }
  $("cluster").dataset.status = cluster ? "ok" : "unavailable";
  if (cluster) document.title = `Weir · ${cluster.kafka_address}`;
}

/** The latest topic listing, for the dead-letter panel. */
let topics = new Map();
const topicRates = new Rates();
/** The latest rates, for the graph. */
const latestTopicRates = new Map();
const latestProcessorRates = new Map();
/** The latest processor listing, for the graph. */
let latestProcessors = [];

function renderTopics(body) {
  const list = expectList("/v1/topics", body);
  const now = clock();
  topics = new Map(list.map((t) => [t.name, t]));
  const rows = list.map((topic) => {
    const partitions = topic.partitions || [];
    const records = sum(partitions, (p) => p.high_watermark - p.log_start_offset);
    const end = sum(partitions, (p) => p.high_watermark);
    const rate = topicRates.update(topic.name, end, now);
    latestTopicRates.set(topic.name, rate);
    return el(
      "tr",
      { data: { topic: topic.name, records } },
      el("td", {}, topic.name),
      num(partitions.length),
      num(format.int(records)),
      num(format.bytes(sum(partitions, (p) => p.size_bytes))),
      num(format.rate(rate)),
    );
  });
  fill("topics", rows, "no topics yet");
}

function renderGroups(body) {
  const list = expectList("/v1/groups", body);
  const rows = list.map((group) => {
    const state = String(group.state || "unknown");
    return el(
      "tr",
      { data: { group: group.group_id, state, lag: group.lag } },
      el("td", {}, group.group_id, group.processor ? el("span", { class: "tag" }, "processor") : null),
      el("td", {}, el("span", { class: `state ${state.toLowerCase()}` }, state)),
      num(format.int(group.members)),
      num(format.int(group.lag)),
    );
  });
  fill("groups", rows, "no consumer groups");
}

const processorRates = new Rates();

function rememberRate(name, rate) {
  latestProcessorRates.set(name, rate);
  return rate;
}

function renderProcessors(body) {
  const list = expectList("/v1/processors", body);
  latestProcessors = list;
  const now = clock();
  const rows = list.map((processor) => {
    const manifest = processor.manifest || {};
    const status = processor.status || {};
    const name = manifest.name || status.name;
    const partitions = status.partitions || [];
    const state = String(status.state || (processor.paused ? "paused" : "unknown"));
    const recordsIn = sum(partitions, (p) => p.records_in);
    const errors = sum(partitions, (p) => p.errors);
    const dead = sum(partitions, (p) => p.dead_lettered);
    // Why a worker is not running, and the last failure: on hover.
    const notes = partitions.flatMap((p) => {
      const worker = p.state || {};
      const lines = [];
      if (worker.state && worker.state !== "running") {
        lines.push(`partition ${p.partition}: ${worker.state}${worker.reason ? ` (${worker.reason})` : ""}`);
      }
      if (p.last_error) lines.push(`partition ${p.partition}: last error: ${p.last_error}`);
      return lines;
    });
    const outputs = (manifest.outputs || []).join(", ") || "–";
    const link = encodeURIComponent(name);
    return el(
      "tr",
      { data: { processor: name, state, recordsIn } },
      el("td", {}, name, processor.version > 1 ? el("span", { class: "tag" }, `v${processor.version}`) : null),
      el("td", {}, `${inputsOf(manifest).join(" + ") || "?"} → ${outputs}`),
      el("td", { title: notes.join("\n") || null }, el("span", { class: `state ${state}` }, state)),
      num(format.rate(rememberRate(name, processorRates.update(name, recordsIn, now)))),
      num(format.int(recordsIn)),
      el("td", { class: errors ? "num nonzero" : "num" }, format.int(errors)),
      el("td", { class: dead ? "num nonzero" : "num" }, format.int(dead)),
      num(format.int(sum(partitions, (p) => p.lag))),
      el(
        "td",
        {},
        el("a", { href: `#logs/${link}` }, "logs"),
        el("a", { href: `#dead-letters/${link}` }, "dead letters"),
      ),
    );
  });
  fill("processors", rows, "no processors deployed");
}

// ---- The detail panel: a processor's logs or dead letters.

/** What the panel shows: {kind, name, ...}, or null when closed. */
let detail = null;

function openFromHash() {
  const match = /^#(logs|dead-letters)\/(.+)$/.exec(location.hash);
  const panel = $("detail");
  if (!match) {
    detail = null;
    panel.hidden = true;
    problem("detail", null);
    return;
  }
  const name = decodeURIComponent(match[2]);
  detail = { kind: match[1], name, after: null, lines: [], busy: false };
  panel.hidden = false;
  $("detail-title").textContent =
    detail.kind === "logs" ? `Logs of ${name}` : `Dead letters of ${name} (topic ${name}.dead-letter)`;
  $("detail-note").textContent = "loading…";
  $("detail-body").replaceChildren();
  pollDetail();
}

async function pollDetail() {
  const current = detail;
  if (!current || current.busy) return;
  current.busy = true;
  try {
    if (current.kind === "logs") await followLogs(current);
    else await showDeadLetters(current);
    if (detail === current) problem("detail", null);
  } catch (e) {
    if (detail !== current) return;
    problem("detail", e.message);
    $("detail-note").textContent = "unavailable";
  } finally {
    current.busy = false;
  }
}

/** Lines of `name` after sequence number `after`, up to `pages` requests. */
async function readLogs(name, after, pages) {
  const lines = [];
  for (let page = 0; page < pages; page += 1) {
    const path = `/v1/processors/${encodeURIComponent(name)}/logs?after=${after}&limit=${LOG_PAGE}`;
    const batch = expectList(path, await api(path));
    lines.push(...batch);
    if (lines.length > LOG_KEEP) lines.splice(0, lines.length - LOG_KEEP);
    if (batch.length < LOG_PAGE) break;
    after = batch[batch.length - 1].seq;
  }
  return lines;
}

/** Opens on the last lines, then appends new ones at each poll. */
async function followLogs(current) {
  let lines;
  if (current.after === null) {
    // A line's seq is its offset in __weir_logs plus one, shared by every
    // processor: look back from the topic's end until there are enough lines.
    let end = null;
    try {
      const logs = await api("/v1/topics/__weir_logs");
      end = sum(logs.partitions || [], (p) => p.high_watermark);
    } catch {
      end = null; // read from the start instead
    }
    for (let back = 4 * LOG_TAIL; ; back *= 8) {
      const after = end === null ? 0 : Math.max(0, end - back);
      lines = await readLogs(current.name, after, 20);
      if (lines.length >= LOG_TAIL || after === 0) break;
    }
    lines = lines.slice(-LOG_TAIL);
  } else {
    lines = await readLogs(current.name, current.after, 4);
  }
  if (detail !== current) return;
  if (lines.length) current.after = lines[lines.length - 1].seq;
  else if (current.after === null) current.after = 0;
  current.lines.push(...lines);
  if (current.lines.length > LOG_KEEP) current.lines.splice(0, current.lines.length - LOG_KEEP);

  const body = $("detail-body");
  const atBottom = body.scrollTop + body.clientHeight >= body.scrollHeight - 4;
  const rendered = current.lines.map((line) =>
    el(
      "span",
      { class: line.level },
      el("span", { class: "when" }, format.time(line.timestamp_ms)),
      ` ${String(line.level).toUpperCase().padEnd(5)} `,
      line.partition === null || line.partition === undefined ? "" : `[p${line.partition}] `,
      line.message,
      "\n",
    ),
  );
  body.replaceChildren(el("pre", { class: "log" }, rendered));
  if (atBottom) body.scrollTop = body.scrollHeight;
  const count = current.lines.length;
  $("detail-note").textContent = count
    ? `last ${count} line${count === 1 ? "" : "s"}, following (weir processor logs ${current.name} --follow)`
    : "no log lines yet; following";
}

/** Text of a key, value or header value as the records route answers it. */
function bytesText(value) {
  if (value === null || value === undefined) return "null";
  if (typeof value === "string") return value;
  if (typeof value.base64 === "string") return `base64:${value.base64}`;
  return JSON.stringify(value);
}

const clip = (text, n) => (text.length > n ? `${text.slice(0, n)}…` : text);

/** The latest records of each partition of the processor's dead-letter topic. */
async function showDeadLetters(current) {
  const topic = `${current.name}.dead-letter`;
  const known = topics.get(topic);
  const partitions = known ? known.partitions || [] : [{ partition: 0 }];
  const records = [];
  for (const p of partitions) {
    const from =
      p.high_watermark === undefined
        ? "from=beginning"
        : `offset=${Math.max(p.log_start_offset, p.high_watermark - DEAD_LETTERS)}`;
    const path = `/v1/topics/${encodeURIComponent(topic)}/partitions/${p.partition}/records?${from}&limit=${DEAD_LETTERS}`;
    const answer = await api(path);
    for (const record of expectList(path, answer.records)) records.push({ partition: p.partition, ...record });
  }
  if (detail !== current) return;
  records.sort((a, b) => b.timestamp - a.timestamp || b.offset - a.offset);
  const rows = records.map((record) => {
    const headers = new Map((record.headers || []).map(([k, v]) => [k, bytesText(v)]));
    const source = `${headers.get("weir.source.topic") || "?"}/${headers.get("weir.source.partition") || "?"}@${headers.get("weir.source.offset") || "?"}`;
    return el(
      "tr",
      { data: { offset: record.offset } },
      num(`${record.partition}@${record.offset}`),
      el("td", {}, format.time(record.timestamp)),
      el("td", {}, source),
      el("td", { class: "wrap" }, headers.get("weir.error") || "–"),
      el("td", {}, clip(bytesText(record.key), 40)),
      el("td", { class: "wrap" }, clip(bytesText(record.value), 300)),
    );
  });
  const head = el(
    "thead",
    {},
    el("tr", {}, ["At", "Time", "Source", "Error", "Key", "Value"].map((h) => el("th", {}, h))),
  );
  const table = rows.length ? el("table", {}, head, el("tbody", {}, rows)) : "";
  $("detail-body").replaceChildren(table);
  $("detail-note").textContent = records.length
    ? `latest ${records.length} dead letter${records.length === 1 ? "" : "s"}, newest first`
    : `no dead letters in ${topic}`;
}

// ---- The loop.

async function tick() {
  // The cluster first: its uptime is the clock the rates below use.
  await poll("cluster", "/v1/cluster", renderCluster);
  await Promise.all([
    poll("topics", "/v1/topics", renderTopics),
    poll("groups", "/v1/groups", renderGroups),
    poll("processors", "/v1/processors", renderProcessors),
  ]);
  try {
    const rate = (rates) => (name) => (rates.has(name) ? rates.get(name) : null);
    drawGraph(latestProcessors, rate(latestTopicRates), rate(latestProcessorRates), format);
    problem("graph", null);
  } catch (e) {
    problem("graph", `drawing the pipeline graph: ${e.message}`);
  }
  await pollDetail();
  $("updated").textContent = `updated ${format.time(Date.now())} · every ${POLL_MS / 1000} s`;
  setTimeout(tick, POLL_MS);
}

window.addEventListener("hashchange", openFromHash);
$("detail-close").addEventListener("click", (e) => {
  e.preventDefault();
  history.replaceState(null, "", location.pathname);
  openFromHash();
});
openFromHash();
tick();
