// The program report's charts, drawn by the vendored Chart.js from the numbers the page
// already shows in its tables (`#report-data`). Without JavaScript the tables remain.
(function () {
  "use strict";
  var source = document.getElementById("report-data");
  if (!source || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var ink = "#1c1917", held = "#15803d", missed = "#b91c1c", loops = "#1d4ed8", risk = "#c2410c";
  Chart.defaults.color = ink;
  Chart.defaults.font.family = "-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif";
  Chart.defaults.animation = false; // the report is read, not watched

  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (canvas) { new Chart(canvas, config); }
  }
  var counts = { y: { beginAtZero: true, ticks: { precision: 0 } } };

  draw("chart-meetings", {
    type: "bar",
    data: {
      labels: data.labels,
      datasets: [
        { label: "held", data: data.meetings_held, backgroundColor: held },
        { label: "missed", data: data.meetings_missed, backgroundColor: missed }
      ]
    },
    options: { responsive: true, scales: counts }
  });
  draw("chart-loops", {
    type: "bar",
    data: {
      labels: data.labels,
      datasets: [{ label: "feedback loops closed", data: data.loops_closed, backgroundColor: loops }]
    },
    options: { responsive: true, scales: counts }
  });
  draw("chart-risk", {
    type: "line",
    data: {
      labels: data.labels,
      datasets: [{
        label: "relationships at risk", data: data.at_risk, borderColor: risk,
        backgroundColor: risk, stepped: true
      }]
    },
    options: { responsive: true, scales: counts }
  });
  draw("chart-outcomes", {
    type: "doughnut",
    data: {
      labels: data.outcome_labels,
      datasets: [{
        data: data.outcome_counts,
        backgroundColor: ["#15803d", "#ca8a04", "#78716c", "#b91c1c", "#1d4ed8"]
      }]
    },
    options: { responsive: true }
  });
  document.documentElement.dataset.charts = "drawn";
})();
