#include "gateway/dashboard.h"

namespace modelfn {

const std::string_view kDashboardHtml = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>modelfn dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #1d2330; background: #f7f8fa; }
  h1 { font-size: 1.3em; margin: 0 0 .2em; }
  #updated { color: #667; font-size: .9em; }
  .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(360px, 1fr)); gap: 1em;
          margin: 1em 0; }
  .card { background: #fff; border: 1px solid #dde1e8; border-radius: 6px; padding: .8em; }
  .card h2 { font-size: 1em; margin: 0 0 .5em; }
  canvas { width: 100%; height: 160px; }
  table { border-collapse: collapse; width: 100%; background: #fff; }
  th, td { text-align: left; padding: .3em .6em; border-bottom: 1px solid #e6e8ee; }
  th { background: #eef0f4; }
  .legend span { margin-right: 1em; }
  .error { color: #b00020; }
  #login { background: #fff; border: 1px solid #dde1e8; border-radius: 6px; padding: .8em;
           margin: 1em 0; max-width: 40em; }
  #login input { width: 100%; box-sizing: border-box; margin: .2em 0 .6em; font: inherit; }
</style>
</head>
<body>
<h1>modelfn</h1>
<div id="updated">connecting…</div>
<form id="login" hidden autocomplete="off">
  <div>This gateway needs credentials. They stay in this tab (session storage) and are sent as
    headers, never in a URL.</div>
  <label>API key <input id="api-key" type="password" autocomplete="off"></label>
  <label>JWT (bearer token) <input id="jwt" type="password" autocomplete="off"></label>
  <button type="submit">Connect</button> <button type="button" id="forget">Forget</button>
</form>
<div id="summary"></div>
<div class="grid">
  <div class="card"><h2>Instances</h2><canvas id="instances-chart" width="600" height="160"></canvas>
    <div class="legend" id="instances-legend"></div></div>
  <div class="card"><h2>Latency (ms): p50 / p95 / p99</h2>
    <canvas id="latency-chart" width="600" height="160"></canvas>
    <div class="legend" id="latency-legend"></div></div>
  <div class="card"><h2>Cold starts and errors (cumulative)</h2>
    <canvas id="errors-chart" width="600" height="160"></canvas>
    <div class="legend" id="errors-legend"></div></div>
</div>
<table id="instances">
  <thead><tr><th>function</th><th>instance</th><th>version</th><th>state</th><th>served</th>
    <th>init ms</th><th>start</th><th>age s</th></tr></thead>
  <tbody></tbody>
</table>
<script>
"use strict";
const HISTORY = 300;
const colors = ["#2f6fdf", "#e0702c", "#2ca05a", "#c23b8a", "#7b5cd6", "#888"];
const series = { instances: {}, p50: {}, p95: {}, p99: {}, cold: {}, errors: {} };
let points = 0;

// Credentials live in sessionStorage (this tab only) and travel as headers on every fetch; they
// are never put in a URL, where history, logs and Referer would keep them.
const KEY_ITEM = "modelfn.api_key";
const JWT_ITEM = "modelfn.jwt";

function headers() {
  const h = {};
  const key = sessionStorage.getItem(KEY_ITEM);
  const jwt = sessionStorage.getItem(JWT_ITEM);
  if (key) h["X-Api-Key"] = key;
  if (jwt) h["Authorization"] = "Bearer " + jwt;
  return h;
}

function askForCredentials(why) {
  const form = document.getElementById("login");
  form.hidden = false;
  document.getElementById("updated").textContent = why;
  document.getElementById("updated").className = "error";
}

document.getElementById("login").addEventListener("submit", (e) => {
  e.preventDefault();
  const key = document.getElementById("api-key").value.trim();
  const jwt = document.getElementById("jwt").value.trim().replace(/^Bearer\s+/i, "");
  key ? sessionStorage.setItem(KEY_ITEM, key) : sessionStorage.removeItem(KEY_ITEM);
  jwt ? sessionStorage.setItem(JWT_ITEM, jwt) : sessionStorage.removeItem(JWT_ITEM);
  document.getElementById("api-key").value = "";
  document.getElementById("jwt").value = "";
  document.getElementById("login").hidden = true;
  tick();
});

document.getElementById("forget").addEventListener("click", () => {
  sessionStorage.removeItem(KEY_ITEM);
  sessionStorage.removeItem(JWT_ITEM);
  askForCredentials("credentials forgotten");
});

function push(group, name, value) {
  const s = series[group][name] || (series[group][name] = []);
  s.push(value);
  if (s.length > HISTORY) s.shift();
}

function draw(id, groups, legendId) {
  const canvas = document.getElementById(id);
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  let max = 1;
  const lines = [];
  for (const [group, dash] of groups) {
    for (const [name, values] of Object.entries(series[group])) {
      lines.push({ label: group === "instances" ? name : name + " " + group, values, dash });
      for (const v of values) max = Math.max(max, v);
    }
  }
  ctx.strokeStyle = "#e6e8ee";
  ctx.beginPath(); ctx.moveTo(0, canvas.height - 1); ctx.lineTo(canvas.width, canvas.height - 1);
  ctx.stroke();
  let span = 30;  // at least a 30 s window, growing to HISTORY
  for (const l of lines) span = Math.max(span, l.values.length);
  lines.forEach((line, i) => {
    ctx.strokeStyle = colors[i % colors.length];
    ctx.setLineDash(line.dash);
    ctx.lineWidth = 2;
    ctx.beginPath();
    line.values.forEach((v, x) => {
      const px = (x / (span - 1)) * canvas.width;
      const py = canvas.height - 4 - (v / max) * (canvas.height - 8);
      x === 0 ? ctx.moveTo(px, py) : ctx.lineTo(px, py);
    });
    ctx.stroke();
  });
  ctx.setLineDash([]);
  ctx.fillStyle = "#667";
  ctx.fillText("max " + (Math.round(max * 100) / 100), 4, 12);
  document.getElementById(legendId).innerHTML = lines.map((l, i) =>
    `<span style="color:${colors[i % colors.length]}">&#9632; ${l.label}</span>`).join("");
}

function text(s) {
  const d = document.createElement("div");
  d.textContent = String(s);
  return d.innerHTML;
}

async function tick() {
  try {
    const r = await fetch("/v1/status", { headers: headers(), cache: "no-store" });
    if (r.status === 401 || r.status === 403) {
      askForCredentials(r.status === 401 ? "credentials required (HTTP 401)"
                                         : "credentials refused (HTTP 403)");
      return;
    }
    if (!r.ok) throw new Error("HTTP " + r.status);
    const st = await r.json();
    const rows = [];
    let summary = [];
    for (const f of st.functions) {
      push("instances", f.name, f.instances);
      push("p50", f.name, f.p50_ms); push("p95", f.name, f.p95_ms); push("p99", f.name, f.p99_ms);
      push("cold", f.name, f.cold_starts); push("errors", f.name, f.errors);
      summary.push(`<b>${text(f.name)}</b>: ${f.requests} requests, ${f.instances} instances, ` +
                   `${f.cold_starts} cold starts, ${f.errors} errors ` +
                   `(<a class="plan" href="/v1/plan/${encodeURIComponent(f.name)}">plan</a>)`);
      for (const v of f.versions) {
        for (const i of v.instance_list) {
          rows.push(`<tr data-function="${text(f.name)}"><td>${text(f.name)}</td>` +
                    `<td>${text(i.name)}</td><td>${text(i.version)}</td>` +
                    `<td class="state">${text(i.state)}</td><td>${i.served}</td>` +
                    `<td>${i.init_ms.toFixed(1)}</td><td>${text(i.start)}</td>` +
                    `<td>${i.age_s.toFixed(1)}</td></tr>`);
        }
      }
    }
    points++;
    document.body.dataset.points = points;
    document.querySelector("#instances tbody").innerHTML = rows.join("");
    document.getElementById("summary").innerHTML = summary.join("<br>");
    draw("instances-chart", [["instances", []]], "instances-legend");
    draw("latency-chart", [["p50", []], ["p95", [6, 3]], ["p99", [2, 2]]], "latency-legend");
    draw("errors-chart", [["cold", []], ["errors", [6, 3]]], "errors-legend");
    document.getElementById("updated").textContent =
      "updated " + new Date().toLocaleTimeString() + " — " + st.url;
    document.getElementById("updated").className = "";
  } catch (e) {
    document.getElementById("updated").textContent = "status unavailable: " + e.message;
    document.getElementById("updated").className = "error";
  }
}
tick();
setInterval(tick, 1000);
</script>
</body>
</html>
)HTML";

}  // namespace modelfn
