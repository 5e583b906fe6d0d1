// The console's only script: keyboard shortcuts, aligned playback, live counts, undo timer.
// Progressive: every action is a plain form or link that works without it.
"use strict";
(() => {
  const body = document.body;
  const page = body.dataset.page;
  const COUNTS_POLL_MS = 20000; // live counts refresh
  const TICK_MS = 1000; // undo countdown

  const typing = (el) => el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
  const help = document.getElementById("help");

  // Queue: a current row moved with j/k.
  const rows = Array.from(document.querySelectorAll("#queue-table tbody tr"));
  let current = -1;
  const setCurrent = (index) => {
    if (!rows.length) return;
    current = Math.max(0, Math.min(rows.length - 1, index));
    rows.forEach((row, i) => row.classList.toggle("current", i === current));
    const link = rows[current].querySelector("a.open");
    if (link) link.focus();
  };
  rows.forEach((row, i) => row.addEventListener("focusin", () => {
    current = i;
    rows.forEach((r, j) => r.classList.toggle("current", j === i));
  }));
  const selectAll = document.getElementById("select-all");
  if (selectAll) selectAll.addEventListener("change", () => {
    rows.forEach((row) => { const box = row.querySelector("input[type=checkbox]"); if (box) box.checked = selectAll.checked; });
  });

  // Track page: the action keys pick the action and its usual reason, then focus submit.
  const decision = document.getElementById("decision-form");
  const defaults = decision ? JSON.parse(decision.dataset.defaultReasons || "{}") : {};
  const choose = (action) => {
    const radio = document.getElementById("action-" + action);
    if (!radio) return;
    radio.checked = true;
    const reason = document.getElementById("reason");
    if (reason && defaults[action]) reason.value = defaults[action];
    document.getElementById("submit-next").focus();
  };
  if (decision) decision.querySelectorAll("input[name=action]").forEach((radio) => {
    radio.addEventListener("change", () => {
      const reason = document.getElementById("reason");
      if (reason && defaults[radio.value]) reason.value = defaults[radio.value];
    });
  });

  // Duplicate evidence: jump to the aligned offset and play; playheads follow playback.
  const playAt = (button) => {
    const audio = document.getElementById(button.dataset.audio);
    if (!audio) return;
    const offset = parseFloat(button.dataset.offset) || 0;
    document.querySelectorAll("audio").forEach((other) => { if (other !== audio) other.pause(); });
    const start = () => { audio.currentTime = offset; audio.play().catch(() => {}); };
    if (audio.readyState >= 1) start(); else audio.addEventListener("loadedmetadata", start, { once: true });
    if (audio.readyState < 1) audio.load();
  };
  document.querySelectorAll("button.play-at").forEach((button) => button.addEventListener("click", () => playAt(button)));
  document.querySelectorAll("svg.timeline").forEach((svg) => {
    const duration = parseFloat(svg.dataset.duration) || 0;
    const head = document.getElementById(svg.dataset.playhead);
    const audio = document.getElementById(svg.dataset.playhead === "head-ref" ? "audio-ref" : "audio-query");
    if (!duration || !head || !audio) return;
    audio.addEventListener("timeupdate", () => {
      const x = Math.min(1000, (1000 * audio.currentTime) / duration).toFixed(1);
      head.setAttribute("x1", x); head.setAttribute("x2", x);
    });
  });

  const click = (id) => { const el = document.getElementById(id); if (el) { el.click(); return true; } return false; };
  const go = (selector) => { const link = document.querySelector(selector); if (link) window.location.href = link.href; };
  let pendingG = false;

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape") { if (typing(document.activeElement)) document.activeElement.blur(); if (help) help.open = false; return; }
    if (typing(event.target)) return;
    const key = event.key;
    if (pendingG) { pendingG = false; if (key === "q") { event.preventDefault(); window.location.href = body.dataset.queue || "/console/queue"; } return; }
    if (key === "?") { if (help) { help.open = !help.open; help.querySelector("summary").focus(); } event.preventDefault(); return; }
    if (key === "g") { pendingG = true; return; }
    if (key === "u" && click("undo-button")) { event.preventDefault(); return; }
    if (page === "queue") {
      if (key === "j") { setCurrent(current + 1); event.preventDefault(); }
      else if (key === "k") { setCurrent(current - 1); event.preventDefault(); }
      else if (key === "x" && current >= 0) { const box = rows[current].querySelector("input[type=checkbox]"); if (box) box.checked = !box.checked; event.preventDefault(); }
      else if (key === "o" && current >= 0) { const link = rows[current].querySelector("a.open"); if (link) window.location.href = link.href; }
      else if (key === "/") { const first = document.getElementById("f-reason"); if (first) { first.focus(); event.preventDefault(); } }
    } else if (page === "track") {
      const actions = { a: "approve", r: "remove", f: "filter", e: "escalate" };
      if (actions[key]) { choose(actions[key]); event.preventDefault(); }
      else if (key === "j") go("#next-track");
      else if (key === "k") go("#prev-track");
      else if (key === "1") click("play-query");
      else if (key === "2") click("play-ref");
    }
  });

  // The residual plot's marked peaks, said in words once the plot is rendered.
  const plot = document.getElementById("artifact-plot");
  const peaks = document.getElementById("artifact-peaks");
  const sayPeaks = () => {
    fetch(plot.dataset.peaks, { credentials: "same-origin", headers: { accept: "application/json" } })
      .then((response) => (response.ok ? response.json() : null))
      .then((marked) => {
        if (!marked) return;
        peaks.textContent = marked.peaks_khz.length
          ? "Marked peaks: " + marked.peaks_khz.map((khz, i) =>
              khz.toFixed(2) + " kHz (prominence " + marked.peaks_db[i].toFixed(1) + " dB)").join(", ") + "."
          : "No narrow peak clears the detector's " + marked.min_prominence_db + " dB prominence: nothing is marked.";
      });
  };
  // After the image: it renders the plot and the peaks together, once.
  if (plot && peaks) { if (plot.complete) sayPeaks(); else plot.addEventListener("load", sayPeaks); }

  // Live counts from /console/counts (the numbers /metrics exports).
  const depth = document.getElementById("count-depth");
  if (depth) {
    setInterval(() => {
      fetch("/console/counts", { credentials: "same-origin", headers: { accept: "application/json" } })
        .then((response) => (response.ok ? response.json() : null))
        .then((numbers) => {
          if (!numbers) return;
          depth.textContent = numbers.queue_depth;
          document.getElementById("count-oldest").textContent = numbers.oldest_waiting;
          document.getElementById("count-today").textContent = numbers.decided_today;
        })
        .catch(() => {});
    }, COUNTS_POLL_MS);
  }

  // Undo countdown: the button goes away when the window closes (the server enforces it too).
  const undoForm = document.getElementById("undo-form");
  if (undoForm) {
    let left = parseInt(undoForm.dataset.secondsLeft, 10) || 0;
    const label = document.getElementById("undo-left");
    const timer = setInterval(() => {
      left -= 1;
      if (label) label.textContent = Math.max(0, left);
      if (left <= 0) { clearInterval(timer); undoForm.hidden = true; }
    }, TICK_MS);
  }

  if (page === "queue" && rows.length && !typing(document.activeElement)) setCurrent(0);
})();
