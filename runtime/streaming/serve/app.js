// The live page: frames from stream.mjpg, rows and status from the api/stream event stream.
"use strict";

const query = location.search; // carries ?token= when the server asks for one
const $ = (id) => document.getElementById(id);
let latest = null;
let drawing = false;
let current = { state: "", detail: "" };

// What a row reads, as runtime/sinks.py reading(): the number, the digit, "?" if unsure, else null.
function readingOf(row) {
  if ("text" in row) return row.text;
  if (row.score === null || row.score === undefined) return null;
  return row.name ?? "?";
}

function percent(score) {
  return score === null || score === undefined ? "" : (score * 100).toFixed(1) + "%";
}

function draw() {
  drawing = false;
  const row = latest;
  $("frame-no").textContent = row.frame;
  $("origin").textContent = row.origin;
  if (row.error) {
    $("reading").textContent = "!";
    $("score").textContent = row.error;
    return;
  }
  $("reading").textContent = readingOf(row) ?? "no digit";
  $("score").textContent = percent(row.score);
  $("fps").textContent = row.fps.toFixed(1);
  $("latency").textContent =
    `${row.ms.toFixed(2)} ms (preprocess ${row.preprocess_ms.toFixed(2)}, ` +
    `inference ${row.inference_ms.toFixed(2)})`;
}

function showRow(row) {
  latest = row;
  if (!drawing) { // many rows a second: draw the newest once per screen refresh
    drawing = true;
    requestAnimationFrame(draw);
  }
}

function showStatus(status) {
  current = status;
  const el = $("status");
  el.textContent = status.state;
  el.className = { running: "running", stopped: "stopped", starting: "" }[status.state] ?? "lost";
  $("detail").textContent = status.detail;
}

function showHistory(items) {
  const list = $("history");
  list.replaceChildren(...items.slice().reverse().map((item) => {
    const li = document.createElement("li");
    const when = new Date(item.time * 1000).toLocaleTimeString();
    li.append(`${item.reading ?? "no digit"} ${percent(item.score)} `);
    const note = document.createElement("span");
    note.className = "muted";
    note.textContent = `at ${when}, frame ${item.frame}`;
    li.append(note);
    return li;
  }));
}

function frameUrl() {
  return "stream.mjpg" + query + (query ? "&" : "?") + "t=" + Date.now();
}

const events = new EventSource("api/stream" + query);
events.onopen = () => { $("frame").src = frameUrl(); }; // again after a restart of the device
events.onmessage = (e) => showRow(JSON.parse(e.data));
events.addEventListener("status", (e) => showStatus(JSON.parse(e.data)));
events.addEventListener("history", (e) => showHistory(JSON.parse(e.data)));
events.onerror = () => { // the browser retries on its own
  if (current.state === "stopped") {
    const note = "(the page reconnects when the device is back)";
    $("detail").textContent = `${current.detail} ${note}`.trim();
  } else {
    showStatus({ state: "disconnected", detail: "reconnecting…" });
  }
};
