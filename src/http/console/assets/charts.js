// The console's charts: each <figure class="chart"> draws the table it holds with uPlot.
// The table is the figure's content (and what a screen reader reads); the chart is its
// picture. A suppressed or empty cell is a gap. The numbers drawn are left on the plot's
// element (data-series) so that what is drawn can be compared with the table.
(function () {
  "use strict";
  var colours = ["#0b5cad", "#a4161a", "#1e6b35", "#8a5a00", "#5b2a86", "#3d4852"];

  function number(text) {
    var t = text.replace(/\s/g, "").replace(",", ".");
    if (t === "" || t === "X" || t === "–") return null;
    var n = Number(t);
    return isFinite(n) ? n : null;
  }

  function draw(figure) {
    var table = figure.querySelector(":scope > table");
    var plot = figure.querySelector(".plot");
    if (!table || !plot || typeof uPlot === "undefined") return;
    var heads = Array.prototype.slice.call(table.tHead.rows[0].cells, 1).map(function (c) {
      return c.textContent.trim();
    });
    var rows = Array.prototype.slice.call(table.tBodies[0].rows);
    var labels = rows.map(function (r) { return r.cells[0].textContent.trim(); });
    var xs = labels.map(function (_, i) { return i; });
    var series = heads.map(function (_, k) {
      return rows.map(function (r) { return number(r.cells[k + 1].textContent); });
    });
    var bars = figure.getAttribute("data-kind") === "bars";
    var options = {
      width: Math.max(320, Math.min(plot.clientWidth || 720, 960)),
      height: 260,
      scales: { x: { time: false, range: [-0.5, Math.max(xs.length - 0.5, 0.5)] } },
      axes: [
        {
          splits: function () { return xs; },
          values: function (u, splits) {
            return splits.map(function (i) { return labels[i] || ""; });
          },
        },
        {},
      ],
      series: [{ label: table.tHead.rows[0].cells[0].textContent.trim() }].concat(
        heads.map(function (label, k) {
          var colour = colours[k % colours.length];
          return bars
            ? { label: label, stroke: colour, fill: colour + "b3", paths: uPlot.paths.bars({ size: [0.6, 80] }), points: { show: false } }
            : { label: label, stroke: colour, width: 2, points: { show: true, size: 6 } };
        }),
      ),
    };
    new uPlot(options, [xs].concat(series), plot);
    plot.setAttribute("data-series", JSON.stringify(series));
    figure.setAttribute("data-rendered", "true");
  }

  Array.prototype.forEach.call(document.querySelectorAll("figure.chart"), draw);
})();
