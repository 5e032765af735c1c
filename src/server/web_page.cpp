#include "server/web_page.h"

namespace veloxquant::server {

// The bar colours are fixed (#2da44e compressed, #d0d7de f16, #1f6feb table head): the browser test
// (tests/server/page.test.mjs) finds them in a screenshot.
const char* web_page_html() {
  return R"html(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>veloxquant serve</title>
<style>
  body { font: 14px/1.4 sans-serif; margin: 16px; background: #ffffff; color: #1f2328; }
  h1 { font-size: 18px; margin: 0 0 8px; }
  #summary { margin: 0 0 12px; }
  table { border-collapse: collapse; }
  th { background: #1f6feb; color: #ffffff; text-align: left; padding: 6px 10px; }
  td { padding: 6px 10px; border-bottom: 1px solid #eaeef2; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  .bar { position: relative; width: 200px; height: 12px; background: #d0d7de; }
  .bar > div { position: absolute; left: 0; top: 0; height: 12px; background: #2da44e; }
  #error { color: #cf222e; }
</style>
</head>
<body>
<h1>veloxquant serve</h1>
<div id="summary">loading …</div>
<table id="sessions">
  <thead><tr><th>session</th><th>state</th><th>tokens</th><th>KV bytes</th><th>f16 bytes</th><th>KV / f16</th>
  <th>KV against f16</th><th>decode tokens/s</th></tr></thead>
  <tbody></tbody>
</table>
<div id="error"></div>
<script>
"use strict";
function bytes(n) {
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(2) + " MiB";
  if (n >= 1 << 10) return (n / (1 << 10)).toFixed(1) + " KiB";
  return n + " B";
}
function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}
async function refresh() {
  try {
    const r = await fetch("/sessions", { cache: "no-store" });
    const s = await r.json();
    document.getElementById("summary").textContent =
      s.model + " · K " + s.key_format + " / V " + s.value_format + " · window " + s.window + ", sinks " + s.sinks +
      " · ctx " + s.ctx + " · " + s.sessions.length + " sessions in memory (max " + s.max_sessions + "), " +
      s.saved_sessions + " saved, " + s.queue_depth + " queued · KV " + bytes(s.kv_bytes) + " (f16: " +
      bytes(s.kv_f16_bytes) + ") of " + bytes(s.kv_budget) + " · " + s.tokens_per_s.toFixed(1) + " tokens/s";
    const body = document.querySelector("#sessions tbody");
    body.replaceChildren();
    for (const x of s.sessions) {
      const row = body.insertRow();
      row.dataset.id = x.id;
      cell(row, x.id);
      cell(row, x.state);
      cell(row, String(x.tokens), "num");
      cell(row, String(x.kv_bytes), "num");
      cell(row, String(x.f16_bytes), "num");
      const ratio = x.f16_bytes > 0 ? x.kv_bytes / x.f16_bytes : 0;
      cell(row, ratio.toFixed(3), "num");
      const bar = document.createElement("div");
      bar.className = "bar";
      const fill = document.createElement("div");
      fill.style.width = Math.round(200 * Math.min(1, ratio)) + "px";
      bar.appendChild(fill);
      row.insertCell().appendChild(bar);
      cell(row, x.tokens_per_s.toFixed(1), "num");
    }
    document.getElementById("error").textContent = "";
  } catch (e) {
    document.getElementById("error").textContent = "cannot read /sessions: " + e;
  }
}
refresh();
setInterval(refresh, 1000);
</script>
</body>
</html>
)html";
}

}  // namespace veloxquant::server
