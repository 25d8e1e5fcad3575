/* Consumption charts (Chart.js, no build step). Data comes from the page's json_script. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  var L = data.labels;
  var lang = document.documentElement.lang || "fr";
  var colors = { day: "#0f7b5f", night: "#2f4b9a", gas: "#c2561b", eur: "#0f7b5f", ly: "#9aa3ad", lyLine: "#4a535e" };
  var dayFmt = new Intl.DateTimeFormat(lang, { day: "numeric", month: "short" });
  var monthFmt = new Intl.DateTimeFormat(lang, { month: "short", year: "2-digit" });
  var eurFmt = new Intl.NumberFormat(lang, { style: "currency", currency: "EUR" });
  var numFmt = new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });
  function parse(iso) { var p = iso.split("-"); return new Date(+p[0], +p[1] - 1, +p[2]); }
  function euros(list) { return list.map(function (c) { return c === null ? null : c / 100; }); }
  var regs = Object.keys(data.daily.registers);
  var regColor = { "1.8.1": colors.day, "1.8.2": colors.night, "24.2.3": colors.gas };

  function dailyConfig(unit) {
    var datasets;
    if (unit === "kwh") {
      datasets = regs.map(function (r) {
        return { type: "bar", label: L[r], data: data.daily.registers[r], backgroundColor: regColor[r], stack: "now", order: 1 };
      });
      // Last year's line is drawn over the bars (lower order = on top).
      datasets.push({ type: "line", label: L.last_year, data: data.daily.last_year, borderColor: colors.lyLine,
        backgroundColor: colors.lyLine, borderDash: [6, 4], borderWidth: 2.5, pointRadius: 0, spanGaps: true, order: 0 });
    } else {
      datasets = [{ type: "bar", label: L.eur, data: euros(data.daily.eur), backgroundColor: colors.eur }];
    }
    return config(data.daily.labels.map(function (d) { return dayFmt.format(parse(d)); }), datasets, unit, true);
  }

  function monthlyConfig(unit) {
    var now = unit === "kwh" ? data.monthly.kwh : euros(data.monthly.eur);
    var before = unit === "kwh" ? data.monthly.ly_kwh : euros(data.monthly.ly_eur);
    return config(data.monthly.labels.map(function (d) { return monthFmt.format(parse(d)); }), [
      { type: "bar", label: L.this_year, data: now, backgroundColor: colors.day },
      { type: "bar", label: L.last_year, data: before, backgroundColor: colors.ly }
    ], unit, false);
  }

  function config(labels, datasets, unit, stacked) {
    var fmt = function (v) { return unit === "eur" ? eurFmt.format(v) : numFmt.format(v) + " kWh"; };
    return {
      data: { labels: labels, datasets: datasets },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 14, font: { size: 13 } } },
          tooltip: { callbacks: { label: function (c) { return c.dataset.label + " : " + (c.parsed.y === null ? "—" : fmt(c.parsed.y)); } } }
        },
        scales: {
          x: { stacked: stacked, ticks: { maxRotation: 0, autoSkip: true, font: { size: 12 } } },
          y: { stacked: stacked, beginAtZero: true, ticks: { callback: fmt, font: { size: 12 } } }
        }
      }
    };
  }

  var daily = new Chart(document.getElementById("chart-daily"), dailyConfig("kwh"));
  var monthly = new Chart(document.getElementById("chart-monthly"), monthlyConfig("kwh"));
  document.querySelectorAll(".unit-switch [data-unit]").forEach(function (button) {
    button.addEventListener("click", function () {
      var unit = button.getAttribute("data-unit");
      document.querySelectorAll(".unit-switch [data-unit]").forEach(function (b) {
        var on = b === button; b.classList.toggle("active", on); b.setAttribute("aria-pressed", on ? "true" : "false");
      });
      [[daily, dailyConfig], [monthly, monthlyConfig]].forEach(function (pair) {
        var cfg = pair[1](unit); pair[0].data = cfg.data; pair[0].options = cfg.options; pair[0].update();
      });
    });
  });
  window.soldeCharts = { daily: daily, monthly: monthly };
})();
