# ruff: noqa: E501, RUF001  (the page is HTML and JavaScript, not Python)
"""The viewer's one page: plain HTML, CSS and JavaScript, no framework and nothing fetched from
elsewhere. It talks to the JSON API of `viewer_app.py`. In review mode (`page_html(review=True, ...)`)
the page carries the per-launch token its review requests must send."""

from __future__ import annotations

import json

__all__ = ["PAGE", "page_html"]

_CONFIG_SLOT = '{"review": false, "token": "", "reviewer": ""}'


def page_html(*, review: bool, token: str, reviewer: str) -> str:
    """The page with its settings written in (as JSON that cannot close the script element)."""
    settings = json.dumps({"review": review, "token": token, "reviewer": reviewer})
    return PAGE.replace(_CONFIG_SLOT, settings.replace("</", "<\\/"), 1)


PAGE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>synthloom viewer</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{margin:0;font-family:system-ui,-apple-system,'Segoe UI',sans-serif;color:#1f2937;background:#f6f7f9}
header{background:#1f2937;color:#fff;padding:10px 18px;display:flex;gap:18px;align-items:center}
header h1{font-size:17px;margin:0}header .path{color:#9ca3af;font-size:12px}
nav button{background:#374151;color:#e5e7eb;border:0;border-radius:5px;padding:6px 12px;margin-right:6px;cursor:pointer}
nav button.active{background:#2563eb;color:#fff}
#bar{display:flex;gap:8px;align-items:center;padding:10px 18px;background:#fff;border-bottom:1px solid #e5e7eb;flex-wrap:wrap}
#bar select,#bar input{padding:5px;border:1px solid #d1d5db;border-radius:4px}
#bar button{padding:5px 10px;border:1px solid #2563eb;background:#2563eb;color:#fff;border-radius:4px;cursor:pointer}
.chip{background:#e0e7ff;border-radius:12px;padding:3px 10px;font-size:12px}.chip a{cursor:pointer;margin-left:6px;color:#b91c1c}
#layout{display:flex;gap:0;height:calc(100vh - 110px)}
#list{flex:1 1 55%;overflow:auto;padding:8px 18px}#detail{flex:1 1 45%;overflow:auto;padding:8px 18px;background:#fff;border-left:1px solid #e5e7eb}
table{border-collapse:collapse;width:100%;font-size:13px;background:#fff}th,td{border-bottom:1px solid #e5e7eb;padding:5px 7px;text-align:left;vertical-align:top}
th{background:#f3f4f6;position:sticky;top:0}tbody tr{cursor:pointer}tbody tr:hover{background:#eff6ff}tbody tr.sel{background:#dbeafe}
td{max-width:220px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}#count{color:#4b5563;font-size:13px;margin:4px 0}
.pager button{margin:6px 6px 6px 0}pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f9fafb;border:1px solid #e5e7eb;padding:6px;border-radius:4px;font-size:12px;margin:4px 0}
.cell{border:1px solid #e5e7eb;border-radius:6px;margin:8px 0;padding:6px 10px}.cell h4{margin:2px 0 6px;font-size:14px}
.call{border-left:3px solid #93c5fd;padding-left:8px;margin:6px 0}.meta{color:#6b7280;font-size:12px}
.msg b{display:inline-block;min-width:70px;color:#374151}.removed{background:#fef2f2;border:1px solid #fecaca;padding:6px 10px;border-radius:6px}
.status-failed{color:#b91c1c}.status-filtered{color:#b45309}.status-done{color:#15803d}
.review{border:1px solid #c7d2fe;background:#eef2ff;border-radius:6px;padding:8px 10px;margin:8px 0}
.review button{padding:5px 14px;margin-right:6px;border-radius:4px;border:1px solid #9ca3af;background:#fff;cursor:pointer}
.review button.on-good{background:#16a34a;color:#fff;border-color:#16a34a}.review button.on-bad{background:#dc2626;color:#fff;border-color:#dc2626}
.review textarea{width:100%;min-height:48px;margin:6px 0;font:inherit}.v-good{color:#15803d;font-weight:600}.v-bad{color:#b91c1c;font-weight:600}
.status-failed{color:#b91c1c}
#picker{position:absolute;z-index:5;background:#fff;border:1px solid #d1d5db;border-radius:6px;padding:8px 12px;box-shadow:0 4px 12px rgba(0,0,0,.12);max-height:60vh;overflow:auto;display:none}
#picker label{display:block;font-size:13px;padding:2px 0;white-space:nowrap}
th.sortable{cursor:pointer;user-select:none}th.sortable:hover{background:#e5e7eb}th .arrow{color:#2563eb}
.values{display:grid;grid-template-columns:minmax(90px,max-content) 1fr;gap:6px 12px;margin-bottom:12px}
.values>dt{font-weight:600;color:#374151;overflow-wrap:anywhere}.values>dd{margin:0;min-width:0;white-space:pre-wrap;overflow-wrap:anywhere;font-size:13px}
.fields{display:grid;grid-template-columns:max-content 1fr;gap:2px 10px;margin:0;font-size:12px}.fields dt{color:#6b7280}.fields dd{margin:0}
.chat{display:flex;flex-direction:column;gap:4px}.bubble{border-radius:8px;padding:4px 8px;max-width:92%;white-space:pre-wrap;overflow-wrap:anywhere}
.bubble>b{display:block;font-size:11px;color:#6b7280}.bubble.user{background:#eff6ff;align-self:flex-start}.bubble.assistant{background:#f0fdf4;align-self:flex-end}
.bubble.system{background:#f3f4f6;font-style:italic}.bubble.tool{background:#fefce8;font-family:ui-monospace,monospace;font-size:12px}
.tool-call{font-family:ui-monospace,monospace;font-size:12px;color:#92400e;background:#fffbeb;border-radius:4px;padding:2px 6px;margin-top:3px}
.score{display:inline-block;background:#e0e7ff;border-radius:10px;padding:1px 8px;margin-right:6px}.null{color:#9ca3af}
.values img{max-width:320px;max-height:320px;border:1px solid #e5e7eb;border-radius:4px}
.who{background:#dbeafe;color:#1e40af;border-radius:4px;padding:0 5px;margin-right:4px}.status-filtered{color:#b45309}.status-done{color:#15803d}
</style></head><body>
<header><h1 id="title">synthloom viewer</h1><span class="path" id="path"></span>
<nav><button id="tab-records" class="active">Records</button><button id="tab-failed">Failed</button><button id="tab-filtered">Filtered</button></nav></header>
<div id="bar"><span>Filter</span><select id="filter-field"></select><select id="filter-op"></select>
<input id="filter-value" placeholder="value"><button id="add-filter">Add filter</button>
<input id="search" placeholder="search text" size="18"><button id="do-search">Search</button>
<select id="review-filter" style="display:none"><option value="">all reviews</option><option value="good">good</option><option value="bad">bad</option><option value="unreviewed">unreviewed</option></select><button id="pick-columns">Columns</button><span id="sort-state" class="meta"></span><span id="chips"></span></div>
<div id="picker"></div>
<div id="layout"><div id="list"><div id="count"></div><table id="rows"><thead></thead><tbody></tbody></table>
<div class="pager"><button id="prev">Previous</button><button id="next">Next</button></div></div>
<div id="detail"><p class="meta">Click a row to see its values and how each cell was made.</p></div></div>
<script>
const CONFIG = {"review": false, "token": "", "reviewer": ""};
const state = {tab: "records", filters: [], q: "", review: "", offset: 0, limit: 50, summary: null, total: 0, columns: [], sort: null, desc: false};
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));
const show = (v) => v === null || v === undefined ? "" : (typeof v === "object" ? JSON.stringify(v) : String(v));
async function api(path) { const r = await fetch(path); if (!r.ok) throw new Error(await r.text()); return r.json(); }

async function init() {
  const s = await api("/api/summary"); state.summary = s;
  $("title").textContent = "synthloom viewer · " + s.name;
  $("path").textContent = s.path + " · " + s.status;
  $("tab-records").textContent = `Records (${s.kept})`;
  $("tab-failed").textContent = `Failed (${s.failed})`;
  $("tab-filtered").textContent = `Filtered (${s.filtered})`;
  $("filter-field").innerHTML = s.fields.map((f) => `<option>${esc(f)}</option>`).join("");
  $("filter-op").innerHTML = s.ops.map((o) => `<option>${o}</option>`).join("");
  for (const t of ["records", "failed", "filtered"]) $("tab-" + t).onclick = () => { state.tab = t; state.offset = 0; render(); };
  $("add-filter").onclick = () => { state.filters.push([$("filter-field").value, $("filter-op").value, $("filter-value").value]); state.offset = 0; render(); };
  $("do-search").onclick = () => { state.q = $("search").value; state.offset = 0; render(); };
  $("search").onkeydown = (e) => { if (e.key === "Enter") $("do-search").click(); };
  if (CONFIG.review) { $("review-filter").style.display = ""; $("review-filter").onchange = () => { state.review = $("review-filter").value; state.offset = 0; render(); }; }
  $("prev").onclick = () => { state.offset = Math.max(0, state.offset - state.limit); render(); };
  $("next").onclick = () => { if (state.offset + state.limit < state.total) { state.offset += state.limit; render(); } };
  pickerInit();
  await render();
}

function chips() {
  $("chips").innerHTML = state.filters.map((f, i) => `<span class="chip">${esc(f[0])} ${f[1]} ${esc(f[2])}<a data-i="${i}">×</a></span>`).join(" ");
  for (const a of $("chips").querySelectorAll("a")) a.onclick = () => { state.filters.splice(+a.dataset.i, 1); state.offset = 0; render(); };
}

let renders = 0;  // a render whose reply arrives after a newer render began is dropped, never drawn over it
async function render() {
  const mine = ++renders;
  for (const t of ["records", "failed", "filtered"]) $("tab-" + t).classList.toggle("active", state.tab === t);
  $("bar").style.visibility = state.tab === "records" ? "visible" : "hidden";
  chips();
  const head = $("rows").querySelector("thead"), body = $("rows").querySelector("tbody");
  if (state.tab === "records") {
    const params = new URLSearchParams({offset: state.offset, limit: state.limit});
    if (state.q) params.set("q", state.q);
    if (state.review) params.set("review", state.review);
    for (const f of state.filters) params.append("f", f.join(":"));
    if (state.sort) { params.set("sort", state.sort); if (state.desc) params.set("desc", "1"); }
    const data = await api("/api/records?" + params);
    if (mine !== renders) return;
    state.total = data.total;
    const cols = state.columns;
    const rv = (r) => CONFIG.review ? `<td class="verdict v-${r.review || "none"}">${r.review || ""}</td>` : "";
    head.innerHTML = "<tr><th>record</th>" + (CONFIG.review ? "<th>review</th>" : "") + cols.map((c) => `<th class="sortable" data-column="${esc(c)}">${esc(c)}${sortArrow(c)}</th>`).join("") + "</tr>";
    for (const th of head.querySelectorAll("th.sortable")) th.onclick = () => toggleSort(th.dataset.column);
    $("sort-state").textContent = state.sort ? `sorted by ${state.sort} ${state.desc ? "(descending)" : "(ascending)"}` : "";
    body.innerHTML = data.rows.map((r) => `<tr data-record="${r.record}"><td>${r.record}</td>` + rv(r) + cols.map((c) => `<td>${esc(show(r.values[c]))}</td>`).join("") + "</tr>").join("");
  } else {
    const data = await api(`/api/removed?kind=${state.tab}&offset=${state.offset}&limit=${state.limit}`);
    if (mine !== renders) return;
    state.total = data.total;
    const why = state.tab === "failed" ? ["error_type", "error", "attempts"] : ["reason"];
    head.innerHTML = "<tr><th>record</th><th>column</th>" + why.map((c) => `<th>${c}</th>`).join("") + "</tr>";
    body.innerHTML = data.rows.map((r) => `<tr data-record="${r.record}"><td>${r.record}</td><td>${esc(r.column)}</td>` + why.map((c) => `<td>${esc(show(r[c]))}</td>`).join("") + "</tr>").join("");
  }
  $("count").textContent = `${state.total} ${state.tab === "records" ? "records match" : state.tab + " rows"} · showing ${state.total ? state.offset + 1 : 0}–${Math.min(state.offset + state.limit, state.total)}`;
  for (const tr of body.querySelectorAll("tr")) tr.onclick = () => { for (const o of body.querySelectorAll("tr.sel")) o.classList.remove("sel"); tr.classList.add("sel"); openRecord(+tr.dataset.record); };
}

function messages(list) {
  return (list || []).map((m) => {
    let content = m.content;
    if (Array.isArray(content)) content = content.map((p) => p.text || `[${p.type}]`).join("\n");
    let calls = "";
    if (m.tool_calls) calls = m.tool_calls.map((t) => `<pre class="tool-call">tool call ${esc(t.function ? t.function.name : "")}(${esc(t.function ? t.function.arguments : "")})</pre>`).join("");
    return `<div class="msg"><b>${esc(m.role)}</b>${m.tool_call_id ? " <span class=meta>(result of " + esc(m.tool_call_id) + ")</span>" : ""}<pre>${esc(show(content))}</pre>${calls}</div>`;
  }).join("");
}

function callHtml(c, i) {
  const meta = [c.model ? `model ${esc(c.model)}` : `tools (${esc(c.tool_mode)}, ${c.model_calls} model call(s))`, c.input_tokens !== undefined ? `${c.input_tokens} tokens in` : "", c.output_tokens !== undefined ? `${c.output_tokens} out` : "",
    c.latency_s !== undefined ? `${c.latency_s}s` : "", c.http_attempts ? `${c.http_attempts} HTTP attempt(s)` : "", c.finish_reason ? `finish ${esc(c.finish_reason)}` : ""].filter(Boolean).join(" · ");
  let body = "";
  if (c.error) body += `<pre class="status-failed">${esc(c.error)}</pre>`;
  if (c.messages) body += messages(c.messages);
  if (c.request) body += `<div class="msg"><b>request</b><pre>${esc(JSON.stringify(c.request, null, 1))}</pre></div>`;
  if (c.reply) body += `<div class="msg"><b>reply</b><pre>${esc(JSON.stringify(c.reply, null, 1))}</pre></div>`;
  if (c.reasoning) body += `<div class="msg"><b>reasoning</b><pre>${esc(c.reasoning)}</pre></div>`;
  if (c.tool_calls && !c.messages) body += c.tool_calls.map((t) => `<pre class="tool-call">${esc(t.tool)} ${t.error ? "· " + esc(t.error) : "· ok"} · ${t.latency_s}s</pre>`).join("");
  return `<div class="call"><div class="meta exchange">exchange ${i + 1}: ${exchangeLabel(c)}${meta}</div>${body}</div>`;
}

function reviewHtml(d) {
  if (!CONFIG.review || !d.values) return "";
  const r = d.review || {};
  const said = r.verdict ? `<span class="meta" id="review-status">${esc(r.verdict)} by ${esc(r.who)} at ${esc(r.when)}</span>` : '<span class="meta" id="review-status">not reviewed</span>';
  return `<div class="review" data-record="${d.record}"><b>Review</b> ${said}<textarea id="review-note" placeholder="note (optional)">${esc(r.note || "")}</textarea>
    <button id="review-good" class="${r.verdict === "good" ? "on-good" : ""}">Good</button><button id="review-bad" class="${r.verdict === "bad" ? "on-bad" : ""}">Bad</button></div>`;
}

async function saveReview(record, verdict) {
  const r = await fetch("/api/review", {method: "POST", headers: {"Content-Type": "application/json", "X-Synthloom-Token": CONFIG.token},
    body: JSON.stringify({record, verdict, note: $("review-note").value})});
  if (!r.ok) { $("review-status").textContent = "not saved: " + await r.text(); return; }
  await openRecord(record);
  await render();
}

async function openRecord(record) {
  const d = await api("/api/record/" + record);
  let html = `<h2>Record ${d.record}</h2>` + reviewHtml(d);
  if (d.values) html += valuesHtml(d.values);
  if (d.removal) html += `<div class="removed"><b class="status-${d.removal.kind}">${d.removal.kind}</b> in column <b>${esc(d.removal.column)}</b>: ${esc(d.removal.reason || d.removal.error || "")}</div>`;
  html += `<h3>Lineage (${d.lineage.length} cell${d.lineage.length === 1 ? "" : "s"})</h3>`;
  if (!d.lineage.length) html += '<p class="meta">No model-backed cell was logged for this record.</p>';
  html += d.lineage.map((cell) => `<div class="cell lineage-cell" data-column="${esc(cell.column)}"><h4>${esc(cell.column)} <span class="status-${esc(cell.status)}">${esc(cell.status)}</span></h4>
    <div class="meta">${cell.attempts} attempt(s) · ${cell.seconds}s · ${cell.calls.length} exchange(s)</div>${cell.calls.map(callHtml).join("")}</div>`).join("");
  $("detail").innerHTML = html;
  if (CONFIG.review && d.values) for (const v of ["good", "bad"]) $("review-" + v).onclick = () => saveReview(d.record, v);
}
// ---- column picker: which columns the record list shows (kept per run in localStorage) ----------------
function pickerInit() {
  const s = state.summary, key = "synthloom-columns:" + s.name;
  let saved = null;
  try { saved = JSON.parse(localStorage.getItem(key) || "null"); } catch (e) { saved = null; }
  state.columns = Array.isArray(saved) ? saved.filter((c) => s.columns.includes(c)) : s.default_columns.slice();
  const picker = $("picker");
  picker.innerHTML = s.columns.map((c) => `<label><input type="checkbox" value="${esc(c)}"${state.columns.includes(c) ? " checked" : ""}> ${esc(c)}</label>`).join("");
  for (const box of picker.querySelectorAll("input")) box.onchange = () => {
    state.columns = s.columns.filter((c) => picker.querySelector(`input[value="${CSS.escape(c)}"]`).checked);
    localStorage.setItem(key, JSON.stringify(state.columns)); render();
  };
  $("pick-columns").onclick = (e) => {
    const r = e.target.getBoundingClientRect();
    picker.style.left = r.left + "px"; picker.style.top = (r.bottom + window.scrollY + 4) + "px";
    picker.style.display = picker.style.display === "block" ? "none" : "block";
  };
}

// ---- sort: a header click sorts ascending, a second descending, a third returns to record order ------
function toggleSort(column) {
  if (state.sort !== column) { state.sort = column; state.desc = false; }
  else if (!state.desc) state.desc = true;
  else { state.sort = null; state.desc = false; }
  state.offset = 0; render();
}
function sortArrow(column) { return state.sort === column ? ` <span class="arrow">${state.desc ? "▼" : "▲"}</span>` : ""; }

// ---- a record's values, shown as what they are ---------------------------------------------------------
const isMessage = (m) => m && typeof m === "object" && ("role" in m) && (("content" in m) || ("tool_calls" in m));
const isTurn = (m) => m && typeof m === "object" && ("speaker" in m) && ("content" in m);
const isStep = (m) => m && typeof m === "object" && ("step" in m) && ("node" in m);
function contentText(content) {
  if (Array.isArray(content)) return content.map((p) => p.text || `[${p.type}]`).join("\n");
  return content === null || content === undefined ? "" : String(content);
}
function chatHtml(messages) {
  return `<div class="chat">` + messages.map((m) => {
    const role = m.role || "", speaker = m.name || m.speaker || role;
    let label = esc(speaker) + (role && speaker !== role ? ` (${esc(role)})` : "");
    if (m.tool_call_id) label += ` · result of ${esc(m.tool_call_id)}`;
    const calls = (m.tool_calls || []).map((t) => `<div class="tool-call">→ ${esc(t.function ? t.function.name : "?")}(${esc(t.function ? t.function.arguments : "")})</div>`).join("");
    const cls = ["user", "assistant", "system", "tool"].includes(role) ? role : "user";
    return `<div class="bubble ${cls}"><b>${label}</b>${esc(contentText(m.content))}${calls}</div>`;
  }).join("") + "</div>";
}
function stepsHtml(steps) {
  return `<div class="chat">` + steps.map((s) => `<div class="bubble system"><b>step ${esc(s.step)} · node ${esc(s.node)}${s.next ? " → " + esc(s.next) : ""}</b>${renderValue(s.output, 1)}</div>`).join("") + "</div>";
}
function renderValue(v, depth = 0) {
  if (v === null || v === undefined) return '<span class="null">null</span>';
  if (typeof v !== "object") return esc(String(v));
  if (v.$image) return `<img alt="image, ${v.bytes} bytes" src="${v.$image}">`;
  if ("$bytes" in v) return `<span class="null">${v.$bytes} bytes</span>`;
  if (Array.isArray(v)) {
    if (v.length && v.every((m) => isMessage(m) || isTurn(m))) return chatHtml(v);
    if (v.length && v.every(isStep)) return stepsHtml(v);
    if (v.length > 8 && v.every((x) => typeof x === "number")) return `<span class="null">vector of ${v.length} numbers</span>`;
    if (depth < 2 && v.every((x) => x === null || typeof x !== "object")) return esc(v.join(", "));
    return `<pre>${esc(JSON.stringify(v, null, 1))}</pre>`;
  }
  const entries = Object.entries(v);
  if (entries.length && entries.every(([, e]) => e && typeof e === "object" && "score" in e))
    return entries.map(([k, e]) => `<div><span class="score">${esc(k)}: ${esc(e.score)}</span>${esc(e.reasoning || e.reason || "")}</div>`).join("");
  if (depth < 2) return `<dl class="fields">` + entries.map(([k, x]) => `<dt>${esc(k)}</dt><dd>${renderValue(x, depth + 1)}</dd>`).join("") + "</dl>";
  return `<pre>${esc(JSON.stringify(v, null, 1))}</pre>`;
}
function valuesHtml(values) {
  return `<h3>Values</h3><dl class="values">` + Object.entries(values).map(([k, v]) => `<dt>${esc(k)}</dt><dd class="value" data-column="${esc(k)}">${renderValue(v)}</dd>`).join("") + "</dl>";
}
function exchangeLabel(c) {
  return (c.node ? `<span class="who">node ${esc(c.node)}</span>` : "") + (c.speaker ? `<span class="who">speaker ${esc(c.speaker)}</span>` : "");
}

init().catch((e) => { document.body.insertAdjacentHTML("beforeend", `<pre id="error">${esc(e)}</pre>`); });
</script></body></html>
"""
