// quant-advisor page: reads the form, asks /v1/recommend and /v1/candidates, draws the answer
// as text, tables and inline SVG charts. No libraries, no build step.
"use strict";

const CATEGORIES = ["reasoning", "math", "coding", "knowledge", "instruction_following",
  "language"];
const SPECS = "__specs__";
const GB = 1e9;
const SIZE_CLASSES = [["< 4B", 4], ["4-10B", 10], ["10-35B", 35], ["35B +", Infinity]];
const SIZE_COLOURS = ["#2a9d8f", "#c99a06", "#e76f51", "#9b2226"];
// API parameter -> the element whose error line shows its message
const ERROR_TARGET = {
  vram: "vram", task: "task", context: "context", cache_type: "cache_type",
  hardware: "hardware", hardware_kind: "hardware_kind", kind: "hardware_kind",
  bandwidth_gbs: "bandwidth_gbs", fp16_tflops: "fp16_tflops", hardware_memory_gb: "hardware",
  memory_gb: "hardware", threads: "threads", devices: "devices", n_devices: "devices",
  min_tokens_per_s: "min_tokens_per_s", mode: "mode", ram: "ram", ram_bandwidth_gbs: "ram",
};
const deviceThreads = new Map();  // device name -> its thread count (from /hardware), if known
const $ = (id) => document.getElementById(id);

// ---- small DOM helpers ---------------------------------------------------------------------
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : String(c));
  return node;
}
function svgEl(tag, attrs = {}, text) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}
const fmtGB = (b) => `${(b / GB).toFixed(b < 10 * GB ? 2 : 1)} GB`;
const fmt = (x, d = 1) => (x === null || x === undefined ? "–" : Number(x).toFixed(d));
// parameter counts as published: 26.9B, 0.8B, 122B (3 significant digits)
const fmtParams = (b) => `${Number(Number(b).toPrecision(3))}B`;
const sizeClass = (p) => SIZE_CLASSES.findIndex(([, top]) => p < top);
const threadsText = (n) => `${n} thread${n === 1 ? "" : "s"}`;

// The device an answer assumed, e.g. "AMD Ryzen 9 7950X (CPU), 16 threads" (threads only when
// the answer gives them) or "2 x NVIDIA GeForce RTX 3090" (several GPUs: the answer's name
// ends in " x2"); a device given by its specs is named by its kind.
function deviceText(name, threads, kind, devices) {
  if (!name) return null;
  const many = devices && devices > 1;
  const one = many && name.endsWith(` x${devices}`) ? name.slice(0, -` x${devices}`.length) : name;
  let device = one === "custom" ? `the device given by its specs${kind ? ` (${kind})` : ""}` : one;
  if (many) device = `${devices} x ${device}`;
  return threads === null || threads === undefined ? device : `${device}, ${threadsText(threads)}`;
}

function provBadge(figure) {
  const span = el("span", { class: `prov prov-${figure.provenance}`, title: figure.source },
    figure.provenance);
  return el("span", {}, span, el("span", { class: "source" }, ` ${figure.source}`));
}
function figureText(f, d = 1) {
  const range = f.low !== null && f.high !== null ? ` (${fmt(f.low, d)}–${fmt(f.high, d)})` : "";
  return `${fmt(f.value, d)}${range}`;
}

// ---- form ----------------------------------------------------------------------------------
function buildSliders() {
  const box = $("task-sliders");
  for (const c of CATEGORIES) {
    const id = `w-${c}`;
    const input = el("input", { type: "range", id, name: id, min: "0", max: "100", step: "5",
      value: c === "reasoning" ? "100" : "0", "aria-describedby": `${id}-out` });
    const out = el("output", { id: `${id}-out`, for: id }, input.value);
    input.addEventListener("input", () => { out.textContent = input.value; });
    box.append(el("div", { class: "slider" },
      el("label", { for: id }, c.replace("_", " ")), input, out));
  }
}

function taskParam() {
  const weights = CATEGORIES.map((c) => [c, Number($(`w-${c}`).value)]);
  const used = weights.filter(([, w]) => w > 0);
  if (used.length === 1) return used[0][0];
  return (used.length ? used : weights).map(([c, w]) => `${c}:${w}`).join(",");
}

function setTask(text) {
  const parts = text.split(",").map((p) => p.split(":"));
  for (const c of CATEGORIES) $(`w-${c}`).value = "0";
  for (const [name, w] of parts) {
    const slider = $(`w-${name.trim()}`);
    if (slider) slider.value = String(w === undefined ? 100 : Math.round(Number(w) * (Number(w) <= 1 ? 100 : 1)));
  }
  for (const c of CATEGORIES) $(`w-${c}-out`).textContent = $(`w-${c}`).value;
}

function formParams() {
  const p = new URLSearchParams();
  p.set("vram", $("vram").value.trim());
  p.set("task", taskParam());
  for (const name of ["context", "cache_type", "threads", "min_tokens_per_s", "ram"]) {
    const v = $(name).value.trim();
    if (v !== "") p.set(name, v);
  }
  if ($("mode").value !== "auto") p.set("mode", $("mode").value);
  const devices = $("devices").value.trim();
  if (devices !== "" && Number(devices) !== 1) p.set("devices", devices);  // empty or 1: one device
  const hw = $("hardware").value;
  if (hw === SPECS) {
    p.set("hardware_kind", $("hardware_kind").value);
    for (const name of ["bandwidth_gbs", "fp16_tflops"]) {
      const v = $(name).value.trim();
      if (v !== "") p.set(name, v);
    }
  } else if (hw) {
    p.set("hardware", hw);
  }
  return p;
}

function fillFromUrl() {
  const q = new URLSearchParams(location.search);
  if (!q.has("vram")) return false;
  for (const name of ["vram", "context", "cache_type", "threads", "devices", "min_tokens_per_s",
    "hardware_kind", "bandwidth_gbs", "fp16_tflops", "mode", "ram"]) if (q.has(name)) $(name).value = q.get(name);
  if (q.has("task")) setTask(q.get("task"));
  if (q.has("hardware")) $("hardware").value = q.get("hardware");
  else if (q.has("bandwidth_gbs")) $("hardware").value = SPECS;
  hardwareChanged();
  return true;
}

// Specs inputs only for "other: give its specs"; the threads hint names the device's own count.
function hardwareChanged() {
  const hw = $("hardware").value;
  $("specs").hidden = hw !== SPECS;
  const own = deviceThreads.get(hw);
  $("threads").placeholder = own ? `${own} (the device's)` : "";
}

async function loadHardware() {
  try {
    const r = await fetch("/hardware");
    if (!r.ok) return;
    const select = $("hardware");
    const devices = (await r.json()).sort((a, b) => a.name.localeCompare(b.name));
    for (const h of devices) {
      const bits = [h.kind, h.memory_gb && `${h.memory_gb} GB`, h.bandwidth_gbs && `${h.bandwidth_gbs} GB/s`,
        h.threads && threadsText(h.threads)];
      if (h.threads) deviceThreads.set(h.name, h.threads);
      select.insertBefore(el("option", { value: h.name },
        `${h.name} (${bits.filter(Boolean).join(", ")})`), select.lastElementChild);
    }
  } catch (e) { /* the list is a convenience: specs can still be typed */ }
}

// ---- errors --------------------------------------------------------------------------------
function clearErrors() {
  for (const node of document.querySelectorAll(".field-error, .form-error")) node.textContent = "";
  for (const node of document.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
}

function showError(body, params) {
  const items = body.detail && body.detail.length ? body.detail : [{ parameter: null, message: body.message }];
  if (body.error === "nothing_fits") {
    items[0].parameter = body.smallest_budget_bytes ? "vram"
      : params.has("min_tokens_per_s") ? "min_tokens_per_s" : null;
  }
  let first = null;
  for (const item of items) {
    let target = ERROR_TARGET[item.parameter];
    if (target === "hardware" && $("hardware").value === SPECS) target = "bandwidth_gbs";
    const line = target ? $(`${target}-error`) : $("form-error");
    line.textContent = (line.textContent ? line.textContent + " " : "") + item.message;
    const field = target === "task" ? $("w-reasoning") : target && $(target);
    if (field) { field.setAttribute("aria-invalid", "true"); first = first || field; }
  }
  $("answer").hidden = true;
  $("status").textContent = "No recommendation: " + body.message;
  if (first) first.focus();
}

// ---- answer --------------------------------------------------------------------------------
function renderPick(rec, kind) {
  const p = rec.pick;
  $("pick-title").textContent = `Pick: ${p.model} at ${p.quant}`;
  const pl = p.placement;
  const needs = pl
    ? `runs split: ${fmtGB(pl.gpu_bytes)} of ${fmtGB(rec.request.budget_bytes)} on the GPU and ${fmtGB(pl.cpu_bytes)} of RAM (${pl.flags.join(" ")})`
    : `needs ${fmtGB(p.memory.total_bytes)} of ${fmtGB(rec.request.budget_bytes)}`;
  $("pick-summary").textContent = `${fmtParams(p.params_b)} parameters (${p.family}), ${p.mode} mode, ${fmt(p.bpw.value, 2)} bits/weight, ` +
    `file ${fmtGB(p.file_bytes)}, ${needs} ` +
    `at context ${p.memory.context} (${p.memory.cache_type} cache). Quality ${figureText(p.quality_score)} / 100, ` +
    `retention ${fmt(p.retention.value * 100, 1)}% of full precision.`;
  $("memory-chart").replaceChildren(...memoryBar(p.memory, rec.request.budget_bytes));
  const head = ["task", "quality (90% interval)", "retention", "full-precision score"];
  const rows = [el("tr", {}, ...head.map((h) => el("th", { scope: "col" }, h)))];
  for (const [task, q] of Object.entries(p.quality_by_task)) {
    const r = p.retention_by_task[task], c = p.capability_by_task[task];
    const pct = { ...r, value: r.value * 100, low: r.low && r.low * 100, high: r.high && r.high * 100 };
    rows.push(el("tr", {}, el("th", { scope: "row" }, task.replace("_", " ")),
      el("td", { "data-label": head[1] }, figureText(q)),
      el("td", { "data-label": head[2] }, `${figureText(pct)}% `, provBadge(r)),
      el("td", { "data-label": head[3] }, `${fmt(c.value)} `, provBadge(c))));
  }
  $("quality-table").replaceChildren(el("caption", {}, "Quality = full-precision score x retention at this quant"), ...rows);
  const speed = Object.entries(p.speed);
  const device = deviceText(rec.request.hardware, rec.request.threads, kind, rec.request.n_devices);
  $("speed").replaceChildren(...(speed.length
    ? [el("p", { id: "speed-device", class: "device" }, `On ${device}:`),
      el("ul", { class: "speed" }, ...speed.map(([test, f]) => el("li", {},
        el("strong", {}, test === "tg128" ? "generation (tg128)" : "prompt (pp512)"),
        `: ${figureText(f)} tokens/s `, provBadge(f))))]
    : [el("p", {}, "Pick a device or give its specs to see speed estimates.")]));
  $("explanation").textContent = rec.explanation;
  $("notes").replaceChildren(...rec.notes.map((n) => el("li", {}, n)));
  renderLaunch(p);
}

// ---- download and run: the repo, and llama.cpp command lines with copy buttons ------------
async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
  const area = el("textarea", { readonly: "", style: "position:absolute;left:-9999px" });
  area.value = text;
  document.body.append(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}

function commandBlock(id, label, text) {
  const button = el("button", { type: "button", class: "copy", "aria-label": `Copy the ${label} command` }, "Copy");
  button.addEventListener("click", async () => {
    try { await copyText(text); button.textContent = "Copied"; }
    catch (e) { button.textContent = "Select and copy"; }
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
  });
  return el("div", { class: "command" }, el("pre", { id, "aria-label": label }, el("code", {}, text)), button);
}

function renderLaunch(p) {
  const parts = [];
  const d = p.download;
  if (d) {
    const file = d.file_pattern ? `, file ${d.file_pattern}` : "";
    const basis = d.quant_basis === "assumed" ? ` (${p.quant} itself not seen in a source; the uploader publishes every quant type)` : "";
    parts.push(el("p", { id: "download" }, "Get it from ", el("a", { href: d.url, rel: "noopener" }, d.repo),
      `${file}${basis}.`, d.ollama_tag ? ` Ollama: ollama run ${d.ollama_tag}` : ""));
  }
  if (p.run) {
    parts.push(commandBlock("run-server", "llama-server", p.run.llama_server),
      commandBlock("run-cli", "llama-cli", p.run.llama_cli));
    if (p.run.notes.length) parts.push(el("ul", { class: "notes" }, ...p.run.notes.map((n) => el("li", {}, n))));
  }
  $("launch").replaceChildren(...parts);
}

function renderAlternatives(rec) {
  const head = ["model", "quant", "params", "memory", "quality", "retention", "tg128 tokens/s"];
  const rows = [el("tr", {}, ...head.map((h) => el("th", { scope: "col" }, h)))];
  for (const a of rec.alternatives) {
    const cells = [a.quant, fmtParams(a.params_b), fmtGB(a.memory.total_bytes), figureText(a.quality_score),
      `${fmt(a.retention.value * 100)}%`, a.speed.tg128 ? fmt(a.speed.tg128.value) : "–"];
    rows.push(el("tr", {}, el("th", { scope: "row" }, a.model),
      ...cells.map((text, i) => el("td", { "data-label": head[i + 1] }, text))));
  }
  $("alternatives").replaceChildren(el("caption", {}, `${rec.alternatives.length} next best of ` +
    `${rec.candidates_fitting} fitting candidates (${rec.candidates_considered} considered)`), ...rows);
}

async function submit(event) {
  if (event) event.preventDefault();
  clearErrors();
  const params = formParams();
  const results = $("results");
  results.setAttribute("aria-busy", "true");
  $("status").textContent = "Working…";
  try {
    const [rr, cr] = await Promise.all([fetch(`/v1/recommend?${params}`), fetch(`/v1/candidates?${params}`)]);
    const rec = await rr.json();
    if (!rr.ok) { showError(rec, params); return; }
    history.replaceState(null, "", `?${params}`);
    renderAlternatives(rec);
    const cands = cr.ok ? await cr.json() : null;
    $("answer").hidden = false;
    const kind = params.get("hardware_kind");
    renderPick(rec, kind);
    drawCharts(rec, cands, kind);
    last = [rec, cands, kind];
    $("status").textContent = `Recommended ${rec.pick.model} at ${rec.pick.quant} for ${rec.request.budget}.`;
  } catch (e) {
    $("form-error").textContent = `The service did not answer: ${e.message}`;
    $("status").textContent = "No recommendation.";
  } finally {
    results.setAttribute("aria-busy", "false");
  }
}

// ---- charts (inline SVG) -------------------------------------------------------------------
// Charts are drawn at the width of their figure (1 SVG unit = 1 CSS pixel) so text stays legible.
function chartWidth(id) {
  return Math.max(300, Math.min(760, Math.floor($(id).clientWidth || 640)));
}
function chartTitle(text) { return el("h3", { class: "chart-title" }, text); }
function htmlLegend(entries) {
  return el("ul", { class: "legend-list" }, ...entries.map(([label, colour, kind]) =>
    el("li", {}, el("span", { class: `swatch ${kind || ""}`, style: `background:${colour};border-color:${colour}` }), label)));
}

function svgFrame(id, title, desc, w, h) {
  const svg = svgEl("svg", { viewBox: `0 0 ${w} ${h}`, role: "img", "aria-labelledby": `${id}-t ${id}-d`,
    preserveAspectRatio: "xMidYMid meet" });
  svg.append(svgEl("title", { id: `${id}-t` }, title), svgEl("desc", { id: `${id}-d` }, desc));
  return svg;
}

function niceTicks(lo, hi, n = 5) {
  const step0 = (hi - lo) / n, mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0);
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9; t += step) ticks.push(+t.toFixed(10));
  return ticks;
}
function logTicks(lo, hi) {
  const ticks = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++)
    for (const m of [1, 2, 5]) { const t = m * 10 ** e; if (t >= lo && t <= hi) ticks.push(t); }
  return ticks;
}

function axes(svg, box, xs, ys, xTicks, yTicks, xLabel, yLabel, xFmt = (t) => t, yFmt = (t) => t) {
  const g = svgEl("g", { class: "axes" });
  g.append(svgEl("rect", { x: box.l, y: box.t, width: box.r - box.l, height: box.b - box.t, class: "plot-area" }));
  for (const t of xTicks) {
    g.append(svgEl("line", { x1: xs(t), x2: xs(t), y1: box.t, y2: box.b, class: "grid" }));
    g.append(svgEl("text", { x: xs(t), y: box.b + 14, "text-anchor": "middle" }, xFmt(t)));
  }
  for (const t of yTicks) {
    g.append(svgEl("line", { x1: box.l, x2: box.r, y1: ys(t), y2: ys(t), class: "grid" }));
    g.append(svgEl("text", { x: box.l - 5, y: ys(t) + 4, "text-anchor": "end" }, yFmt(t)));
  }
  g.append(svgEl("text", { x: (box.l + box.r) / 2, y: box.b + 32, "text-anchor": "middle", class: "label" }, xLabel));
  g.append(svgEl("text", { x: 12, y: (box.t + box.b) / 2, "text-anchor": "middle", class: "label",
    transform: `rotate(-90 12 ${(box.t + box.b) / 2})` }, yLabel));
  svg.append(g);
}

function memoryBar(m, budget) {
  const W = chartWidth("memory-chart"), H = 62, L = 2, R = W - 2, top = Math.max(m.total_bytes, budget) * 1.02;
  const x = (b) => L + (b / top) * (R - L);
  const parts = [["weights", m.weights_bytes, "#1f5fbf"], ["KV cache", m.kv_cache_bytes, "#2a9d8f"],
    ["compute buffers", m.compute_buffer_bytes, "#e9c46a"], ["overhead", m.overhead_bytes, "#8d99ae"]];
  const svg = svgFrame("mem", "Memory needed against the budget",
    parts.map(([n, b]) => `${n} ${fmtGB(b)}`).join(", ") + `; total ${fmtGB(m.total_bytes)} of a ${fmtGB(budget)} budget.`, W, H);
  let at = 0;
  for (const [name, bytes, colour] of parts) {
    const rect = svgEl("rect", { x: x(at), y: 8, width: Math.max(x(at + bytes) - x(at), 0.5), height: 28, fill: colour });
    rect.append(svgEl("title", {}, `${name}: ${fmtGB(bytes)}`));
    svg.append(rect);
    at += bytes;
  }
  svg.append(svgEl("line", { x1: x(budget), x2: x(budget), y1: 4, y2: 44, class: "budget" }));
  svg.append(svgEl("text", { x: Math.min(x(budget), R - 2), y: 56, "text-anchor": "end", class: "legend" }, `budget ${fmtGB(budget)}`));
  const key = htmlLegend([...parts.map(([name, bytes, colour]) => [`${name} ${fmtGB(bytes)}`, colour]),
    [`budget ${fmtGB(budget)}`, "#c0392b", "dashed"]]);
  const cap = el("figcaption", {}, `Total ${fmtGB(m.total_bytes)} of ${fmtGB(budget)}. ` + m.assumptions.join("; ") + ".");
  return [svg, key, cap];
}

function frontChart(rec, points) {
  const W = chartWidth("chart-front"), H = W < 500 ? 300 : 380, box = { l: 44, r: W - 12, t: 10, b: H - 44 };
  const xsAll = points.map((p) => p.total_bytes / GB).concat([rec.request.budget_bytes / GB]);
  const lo = Math.min(...xsAll) * 0.9, hi = Math.max(...xsAll) * 1.1;
  const yMax = Math.max(...points.map((p) => p.quality_score)) * 1.08 || 1;
  const xs = (v) => box.l + (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) * (box.r - box.l);
  const ys = (v) => box.b - (v / yMax) * (box.b - box.t);
  const svg = svgFrame("front", "Quality against memory",
    `${points.length} candidates (model x quant): predicted quality against memory needed, log scale; ` +
    `the Pareto front links those no other beats on both; the dashed line is the ${rec.request.budget} budget; ` +
    `the pick ${rec.pick.model} ${rec.pick.quant} is the star.`, W, H);
  axes(svg, box, xs, ys, logTicks(lo, hi), niceTicks(0, yMax), "memory needed, GB (log scale)", "quality (0-100)",
    (t) => t, (t) => t);
  const dots = svgEl("g", { class: "dots" });
  for (const p of points) {
    const k = sizeClass(p.params_b), ok = p.fits && p.fast_enough;
    const c = svgEl("circle", { cx: xs(p.total_bytes / GB), cy: ys(p.quality_score), r: 3.2,
      fill: ok ? SIZE_COLOURS[k] : "none", stroke: SIZE_COLOURS[k], "stroke-opacity": ok ? 1 : 0.5 });
    c.append(svgEl("title", {}, `${p.model} ${p.quant}: ${fmtGB(p.total_bytes)}, quality ${fmt(p.quality_score)}` +
      (ok ? "" : p.fits ? " (too slow)" : " (does not fit)")));
    dots.append(c);
  }
  svg.append(dots);
  const front = rec.pareto_front;
  let d = "";
  front.forEach((p, i) => {
    const x = xs(p.total_bytes / GB), y = ys(p.quality_score);
    d += i === 0 ? `M${x},${y}` : `H${x}V${y}`;
  });
  if (front.length) d += `H${box.r}`;
  svg.append(svgEl("path", { d, class: "front" }));
  const bx = xs(rec.request.budget_bytes / GB);
  svg.append(svgEl("line", { x1: bx, x2: bx, y1: box.t, y2: box.b, class: "budget" }));
  const px = xs(rec.pick.memory.total_bytes / GB), py = ys(rec.pick.quality_score.value);
  const star = svgEl("path", { d: starPath(px, py, 9), class: "pick" });
  star.append(svgEl("title", {}, `pick: ${rec.pick.model} ${rec.pick.quant}`));
  svg.append(star);
  const key = htmlLegend([["Pareto front", "#1f5fbf"], [`budget ${rec.request.budget}`, "#c0392b", "dashed"],
    [`pick ${rec.pick.model} ${rec.pick.quant}`, "#f1c40f", "star"],
    ...SIZE_CLASSES.map(([label], i) => [`${label} models`, SIZE_COLOURS[i], "dot"])]);
  return [chartTitle("Quality against memory, with the Pareto front"), svg, key,
    el("figcaption", {}, "Filled: fits the budget (and speed floor); hollow: does not. Hover a point for its name.")];
}

function starPath(cx, cy, r) {
  let d = "";
  for (let i = 0; i < 10; i++) {
    const a = -Math.PI / 2 + (i * Math.PI) / 5, rr = i % 2 ? r / 2.4 : r;
    d += `${i ? "L" : "M"}${(cx + rr * Math.cos(a)).toFixed(1)},${(cy + rr * Math.sin(a)).toFixed(1)}`;
  }
  return d + "Z";
}

function bpwChart(rec, points) {
  const W = chartWidth("chart-bpw"), H = W < 500 ? 260 : 320, box = { l: 44, r: W - 12, t: 10, b: H - 44 };
  const series = SIZE_CLASSES.map(([label], k) => {
    const byQuant = new Map();
    for (const p of points.filter((q) => sizeClass(q.params_b) === k)) {
      const e = byQuant.get(p.quant) || { bpw: p.bpw, sum: 0, n: 0 };
      e.sum += p.retention; e.n += 1; byQuant.set(p.quant, e);
    }
    return { label: `${label} (mean)`, colour: SIZE_COLOURS[k],
      pts: [...byQuant.entries()].map(([q, e]) => ({ quant: q, bpw: e.bpw, y: e.sum / e.n })).sort((a, b) => a.bpw - b.bpw) };
  }).filter((s) => s.pts.length);
  const own = points.filter((p) => p.model === rec.pick.model && p.mode === rec.pick.mode).sort((a, b) => a.bpw - b.bpw)
    .map((p) => ({ quant: p.quant, bpw: p.bpw, y: p.retention }));
  series.push({ label: `${rec.pick.model}`, colour: "#111", pts: own, wide: true });
  const all = series.flatMap((s) => s.pts);
  const xLo = Math.floor(Math.min(...all.map((p) => p.bpw))), xHi = Math.ceil(Math.max(...all.map((p) => p.bpw)));
  const yLo = Math.max(0, Math.floor(Math.min(...all.map((p) => p.y)) * 20) / 20);
  const xs = (v) => box.l + ((v - xLo) / (xHi - xLo)) * (box.r - box.l);
  const ys = (v) => box.b - ((v - yLo) / (1.02 - yLo)) * (box.b - box.t);
  const svg = svgFrame("bpw", "Quality kept against bits per weight, by model size",
    `Task-weighted retention (fraction of full-precision quality) at each quant, averaged per model-size class, ` +
    `and for the picked model ${rec.pick.model}.`, W, H);
  axes(svg, box, xs, ys, niceTicks(xLo, xHi, 7), niceTicks(yLo, 1, 5), "bits per weight", "retention",
    (t) => t, (t) => `${Math.round(t * 100)}%`);
  for (const s of series) {
    svg.append(svgEl("polyline", { points: s.pts.map((p) => `${xs(p.bpw)},${ys(p.y)}`).join(" "),
      fill: "none", stroke: s.colour, "stroke-width": s.wide ? 2.5 : 1.6 }));
    for (const p of s.pts) {
      const c = svgEl("circle", { cx: xs(p.bpw), cy: ys(p.y), r: 2.5, fill: s.colour });
      c.append(svgEl("title", {}, `${s.label} ${p.quant}: ${fmt(p.bpw, 2)} bpw, ${fmt(p.y * 100)}% kept`));
      svg.append(c);
    }
  }
  return [chartTitle("Quality kept against bits per weight, by model size"), svg,
    htmlLegend(series.map((s) => [s.label, s.colour])),
    el("figcaption", {}, "Fewer bits per weight lose more quality; larger models usually lose less.")];
}

function speedChart(rec, points, hardware, minTps) {
  const own = points.filter((p) => p.model === rec.pick.model && p.mode === rec.pick.mode && p.tg128 !== null).sort((a, b) => b.bpw - a.bpw);
  if (!hardware || !own.length) {
    return [chartTitle("Speed per quant"), el("figcaption", {}, "Pick a device or give its specs to see the speed of each quant.")];
  }
  const W = chartWidth("chart-speed"), rowH = 18, box = { l: 62, r: W - 40, t: 6 }, H = box.t + own.length * rowH + 40;
  box.b = box.t + own.length * rowH;
  const xMax = Math.max(...own.map((p) => p.tg128), minTps || 0) * 1.1;
  const xs = (v) => box.l + (v / xMax) * (box.r - box.l);
  const svg = svgFrame("speed", `Generation speed of ${rec.pick.model} per quant on ${hardware}`,
    `Predicted or measured tg128 tokens/s for each quant of ${rec.pick.model}; the pick ${rec.pick.quant} is highlighted.`, W, H);
  axes(svg, box, xs, () => 0, niceTicks(0, xMax, 6), [], "tokens/s generated (tg128)", "");
  own.forEach((p, i) => {
    const y = box.t + i * rowH + 3, pick = p.quant === rec.pick.quant;
    const bar = svgEl("rect", { x: box.l, y, width: xs(p.tg128) - box.l, height: rowH - 6,
      class: pick ? "bar pick-bar" : p.fits ? "bar" : "bar nofit" });
    bar.append(svgEl("title", {}, `${p.quant}: ${fmt(p.tg128)} tokens/s, ${fmtGB(p.total_bytes)}${p.fits ? "" : " (does not fit)"}`));
    svg.append(bar);
    svg.append(svgEl("text", { x: box.l - 5, y: y + rowH - 8, "text-anchor": "end", class: pick ? "legend strong" : "legend" }, p.quant));
    svg.append(svgEl("text", { x: xs(p.tg128) + 3, y: y + rowH - 8, class: "legend" }, fmt(p.tg128, 0)));
  });
  if (minTps) svg.append(svgEl("line", { x1: xs(minTps), x2: xs(minTps), y1: box.t, y2: box.b, class: "budget" }));
  return [chartTitle(`Generation speed of ${rec.pick.model} per quant on ${hardware}`), svg,
    el("figcaption", {}, "Yellow: the pick; pale bars: the quant does not fit the budget." + (minTps ? " Dashed: your minimum speed." : ""))];
}

let last = null;  // the answer on show, redrawn when the width changes

function drawCharts(rec, cands, kind) {
  if (!cands || !cands.points.length) {
    $("chart-front").replaceChildren(el("figcaption", {}, "Chart data unavailable."));
    $("chart-bpw").replaceChildren();
    $("chart-speed").replaceChildren();
    return;
  }
  $("chart-front").replaceChildren(...frontChart(rec, cands.points));
  $("chart-bpw").replaceChildren(...bpwChart(rec, cands.points));
  $("chart-speed").replaceChildren(...speedChart(rec, cands.points,
    deviceText(cands.hardware, cands.threads, kind, cands.n_devices), cands.min_tokens_per_s));
}

document.addEventListener("DOMContentLoaded", async () => {
  buildSliders();
  $("hardware").addEventListener("change", hardwareChanged);
  $("query").addEventListener("submit", submit);
  let timer = 0, drawnWidth = window.innerWidth;
  window.addEventListener("resize", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (!last || window.innerWidth === drawnWidth) return;
      drawnWidth = window.innerWidth;
      renderPick(last[0], last[2]);
      drawCharts(...last);
    }, 150);
  });
  await loadHardware();
  document.body.dataset.ready = "true";
  if (fillFromUrl()) submit();
});
