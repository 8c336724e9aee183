// fleetstat: refreshes the fleet table and draws the host charts. No inline script anywhere.
"use strict";

(function () {
  const REFRESH_MS = 10000;

  // ------------------------------------------------------------ the fleet table

  function fleetTable() {
    const table = document.getElementById("fleet");
    if (!table) return;
    const form = document.getElementById("fleet-filter");
    const body = document.getElementById("fleet-rows");
    const state = document.getElementById("refresh-state");
    const summary = document.getElementById("fleet-summary");
    let timer = null;
    let typing = null;
    let shown = { query: params().toString(), tag: table.dataset.tag };  // to ask for a 304

    function params() {
      return new URLSearchParams(new FormData(form));
    }

    async function refresh() {
      const query = params().toString();
      const headers = { Accept: "text/html" };
      if (shown.tag && shown.query === query) headers["If-None-Match"] = shown.tag;
      try {
        const response = await fetch(table.dataset.refresh + "?" + query, {
          credentials: "same-origin", cache: "no-store", headers,
        });
        if (response.status === 401 || response.redirected) { location.assign("/login?next=/"); return; }
        if (response.status !== 304) {  // 304: nothing changed, the rows stay
          if (!response.ok) throw new Error(response.status);
          body.innerHTML = await response.text();
          shown = { query, tag: response.headers.get("ETag") };
          const total = response.headers.get("X-Fleet-Summary");
          if (total) summary.textContent = total;
        }
        relativeTimes(body);
        state.textContent = "updated " + new Date().toISOString().slice(11, 19) + " UTC";
      } catch (err) {
        state.textContent = "could not refresh (" + err.message + "), retrying";
      }
    }

    function schedule() {
      clearTimeout(timer);
      timer = setTimeout(async () => { if (!document.hidden) await refresh(); schedule(); }, REFRESH_MS);
    }

    function apply() {
      history.replaceState(null, "", "?" + params());
      updateHeaders();
      refresh();
      schedule();
    }

    function updateHeaders() {
      const sort = form.elements.sort.value, order = form.elements.order.value;
      for (const link of table.querySelectorAll("a.sort")) {
        const th = link.closest("th");
        const active = link.dataset.sort === sort;
        const arrow = link.querySelector("span");
        if (arrow) arrow.remove();
        if (active) {
          th.setAttribute("aria-sort", order === "asc" ? "ascending" : "descending");
          const mark = document.createElement("span");
          mark.setAttribute("aria-hidden", "true");
          mark.textContent = order === "asc" ? " ▲" : " ▼";
          link.appendChild(mark);
        } else {
          th.removeAttribute("aria-sort");
        }
      }
    }

    table.addEventListener("click", (event) => {
      const link = event.target.closest("a.sort");
      if (!link) return;
      event.preventDefault();
      const same = form.elements.sort.value === link.dataset.sort;
      form.elements.order.value = same && form.elements.order.value === "asc" ? "desc" : "asc";
      form.elements.sort.value = link.dataset.sort;
      apply();
    });
    form.addEventListener("submit", (event) => { event.preventDefault(); apply(); });
    form.elements.outcome.addEventListener("change", apply);
    form.elements.q.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(apply, 250); });
    document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
    schedule();
  }

  // "12 s ago", "5 min ago", "3 h ago", "2 d ago": the wording of the server's ``ago`` filter.
  function ago(iso, now) {
    const seconds = (now - Date.parse(iso)) / 1000;
    if (seconds < 0) return "just now";
    for (const [size, unit] of [[86400, "d"], [3600, "h"], [60, "min"]]) {
      if (seconds >= size) return Math.floor(seconds / size) + " " + unit + " ago";
    }
    return Math.floor(seconds) + " s ago";
  }

  function relativeTimes(root) {
    const now = Date.now();
    for (const time of root.querySelectorAll("time[data-ago]")) time.textContent = ago(time.dateTime, now);
  }

  // ------------------------------------------------------------ the host charts

  const COLORS = ["#0b5cad", "#b3261e", "#1a7f37", "#8a5a00", "#6639ba", "#0a7b83"];

  function chartSeries(data, name) {
    const s = data.series;
    if (name === "load") return [["1 min", s.load1], ["5 min", s.load5], ["15 min", s.load15]];
    if (name === "disks") return Object.entries(data.disks).map(([mount, line]) => [mount, line]);
    return [[name, s[name]]];
  }

  function draw(figure, data, name) {
    const place = figure.querySelector(".plot");
    const lines = chartSeries(data, name).filter(([, line]) => line && line.values.some((v) => v !== null));
    if (!lines.length) {
      place.innerHTML = '<p class="empty">No samples in this range.</p>';
      return;
    }
    const times = lines[0][1].times;
    const columns = [times, ...lines.map(([, line]) => alignTo(times, line))];
    const percent = name !== "load";
    const options = {
      width: Math.max(place.clientWidth, 300), height: 190,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),  // the page speaks UTC
      series: [{}, ...lines.map(([label], i) => ({
        label, stroke: COLORS[i % COLORS.length], width: 1.5,
        value: (u, v) => v == null ? "–" : v.toFixed(percent ? 1 : 2) + (percent ? " %" : ""),
      }))],
      scales: Object.assign(
        { x: { time: true, range: () => [Date.parse(data.start) / 1000, Date.parse(data.end) / 1000] } },
        percent ? { y: { range: [0, 100] } } : {},
      ),
      axes: [{}, { size: 46 }],
      cursor: { drag: { x: false, y: false } },
    };
    place.textContent = "";
    const plot = new uPlot(options, columns, place);
    new ResizeObserver(() => plot.setSize({ width: Math.max(place.clientWidth, 300), height: 190 })).observe(place);
  }

  function alignTo(times, line) {
    if (line.times === times) return line.values;
    const at = new Map(line.times.map((t, i) => [t, line.values[i]]));
    return times.map((t) => (at.has(t) ? at.get(t) : null));
  }

  async function hostCharts() {
    const box = document.getElementById("charts");
    if (!box) return;
    if (typeof uPlot === "undefined") {
      document.getElementById("charts-note").textContent = "The chart library did not load.";
      return;
    }
    const response = await fetch(box.dataset.samples, { credentials: "same-origin" });
    if (!response.ok) {
      document.getElementById("charts-note").textContent = "Could not load the samples (" + response.status + ").";
      return;
    }
    const data = await response.json();
    for (const figure of box.querySelectorAll("figure[data-chart]")) draw(figure, data, figure.dataset.chart);
    document.getElementById("charts-note").textContent =
      "Each point is the average of the samples in " + (data.step >= 60 ? Math.round(data.step / 60) + " min" : data.step + " s") + ".";
  }

  // A form that asks first (removing a client): data-confirm holds the question.
  document.addEventListener("submit", (event) => {
    const question = event.target.dataset && event.target.dataset.confirm;
    if (question && !window.confirm(question)) event.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", () => { fleetTable(); hostCharts(); });
})();
