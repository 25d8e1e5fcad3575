/* The console's dashboard charts (Chart.js, loaded before). Data from #chart-data. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  var texts = JSON.parse(document.getElementById("chart-texts").textContent);
  var palette = ["#0f7b5f", "#1f4e8c", "#9a5b00", "#b3261e", "#6b3fa0", "#56606c"];
  function chart(id, config) {
    var el = document.getElementById(id);
    if (el && window.Chart) { new window.Chart(el, config); }
  }
  chart("chart-states", {
    type: "bar",
    data: { labels: data.states.labels, datasets: [{ label: texts.accounts, data: data.states.values, backgroundColor: palette }] },
    options: { plugins: { legend: { display: false } } }
  });
  chart("chart-topups", {
    type: "bar",
    data: { labels: data.labels, datasets: data.topups.map(function (s, i) {
      return { label: s.label, data: s.values, backgroundColor: palette[i % palette.length] };
    }) },
    options: { scales: { x: { stacked: true }, y: { stacked: true, title: { display: true, text: "€" } } } }
  });
  chart("chart-cuts", {
    type: "line",
    data: { labels: data.labels, datasets: [
      { label: texts.interruptions, data: data.interruptions, borderColor: palette[3], backgroundColor: palette[3] },
      { label: texts.reconnections, data: data.reconnections, borderColor: palette[0], backgroundColor: palette[0] }
    ] }
  });
  chart("chart-money", {
    type: "line",
    data: { labels: data.labels, datasets: [
      { label: texts.collected, data: data.collected, borderColor: palette[0], backgroundColor: palette[0] },
      { label: texts.passed, data: data.passed, borderColor: palette[1], backgroundColor: palette[1] }
    ] },
    options: { scales: { y: { title: { display: true, text: "€" } } } }
  });
})();
