/* Draws the dashboard's figures: JSON from the page's `dashboard-figures` script element, plotted with Plotly when a
 * chart comes near the viewport (IntersectionObserver), with one shared layout. Builds each chart's data table when
 * its <details> is opened. No other behaviour, no network requests. */
(function () {
  "use strict";

  var FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif";
  // template "none"-style: only what every chart shares, so each figure stays small.
  var BASE_LAYOUT = {
    font: { family: FONT, size: 12, color: "#222" },
    paper_bgcolor: "#ffffff",
    plot_bgcolor: "#ffffff",
    colorway: ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#000000", "#F0E442"],
    margin: { l: 56, r: 16, t: 30, b: 40 },
    height: 260,
    hovermode: "x unified",
    showlegend: true,
    legend: { orientation: "h", x: 0, xanchor: "left", y: 1.0, yanchor: "bottom", font: { size: 11 } },
    xaxis: { gridcolor: "#e6e6e6", linecolor: "#888", zeroline: false, automargin: true },
    yaxis: { gridcolor: "#e6e6e6", linecolor: "#888", zeroline: false, automargin: true }
  };
  var SPARK_LAYOUT = {
    height: 26,
    margin: { l: 0, r: 0, t: 2, b: 2 },
    showlegend: false,
    hovermode: false,
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    xaxis: { visible: false, fixedrange: true },
    yaxis: { visible: false, fixedrange: true }
  };
  var CONFIG = { displayModeBar: false, responsive: true };

  function isObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
  }

  function merge(target, source) {
    Object.keys(source || {}).forEach(function (key) {
      if (isObject(source[key]) && isObject(target[key])) {
        target[key] = merge(Object.assign({}, target[key]), source[key]);
      } else {
        target[key] = source[key];
      }
    });
    return target;
  }

  function readFigures() {
    var node = document.getElementById("dashboard-figures");
    return node ? JSON.parse(node.textContent) : {};
  }

  function draw(element, figure) {
    var sparkline = Boolean(figure.sparkline);
    var layout = merge(merge({}, sparkline ? SPARK_LAYOUT : BASE_LAYOUT), figure.layout || {});
    if (element.classList.contains("chart-small")) {
      layout.height = 200;
    }
    if (!sparkline && layout.showlegend !== false) {
      // A horizontal legend above the plot wraps (long names: one entry a row); Plotly caps its height and scrolls
      // it over the plot, so give each entry past the third a row of its own (the plot keeps its height).
      var entries = (figure.data || []).filter(function (trace) { return trace.showlegend !== false; }).length;
      var extraRows = Math.max(0, entries - 3);
      layout.height += extraRows * 19;
      layout.margin = merge({}, layout.margin);
      layout.margin.t += extraRows * 19;
    }
    var config = sparkline ? { staticPlot: true, responsive: true, displayModeBar: false } : CONFIG;
    element.dataset.plotted = "pending";
    return window.Plotly.newPlot(element, figure.data, layout, config).then(function () {
      element.dataset.plotted = "true";
    });
  }

  function formatCell(value, isTime) {
    if (value === null || value === undefined) {
      return "–";
    }
    if (isTime) {
      return new Date(value).toISOString().replace("T", " ").replace(".000Z", "");
    }
    if (typeof value === "number") {
      return String(Number(value.toPrecision(6)));
    }
    return String(value);
  }

  // A table from the figure's own `table`, or from its traces: one row per x of the first trace, one column per
  // trace of the same length; short traces (threshold lines) are listed under the table.
  function tableOf(figure) {
    if (figure.table) {
      return figure.table;
    }
    var traces = figure.data || [];
    if (!traces.length) {
      return { columns: [], rows: [] };
    }
    var x = traces[0].x || [];
    var isDate = figure.layout && figure.layout.xaxis && figure.layout.xaxis.type === "date";
    var columns = [isDate ? "time (UTC)" : "x"];
    var full = traces.filter(function (trace) { return (trace.x || []).length === x.length; });
    var notes = traces.filter(function (trace) { return (trace.x || []).length !== x.length; });
    full.forEach(function (trace) { columns.push(trace.name || "value"); });
    var rows = x.map(function (value, index) {
      return [value].concat(full.map(function (trace) { return trace.y[index]; }));
    });
    return {
      columns: columns,
      rows: rows,
      time_columns: isDate ? [0] : [],
      notes: notes.map(function (trace) { return trace.name; })
    };
  }

  function buildTable(details, figure) {
    var spec = tableOf(figure);
    var timeColumns = spec.time_columns || [];
    var table = document.createElement("table");
    var head = table.createTHead().insertRow();
    spec.columns.forEach(function (name) {
      var cell = document.createElement("th");
      cell.scope = "col";
      cell.textContent = name;
      head.appendChild(cell);
    });
    var body = table.createTBody();
    spec.rows.forEach(function (row) {
      var tr = body.insertRow();
      row.forEach(function (value, index) {
        tr.insertCell().textContent = formatCell(value, timeColumns.indexOf(index) >= 0);
      });
    });
    details.appendChild(table);
    (spec.notes || []).forEach(function (note) {
      var p = document.createElement("p");
      p.className = "muted small";
      p.textContent = note;
      details.appendChild(p);
    });
  }

  function start() {
    var figures = readFigures();
    var elements = Array.prototype.slice.call(document.querySelectorAll("[data-figure]"));
    if (!window.Plotly) {
      elements.forEach(function (element) {
        element.textContent = "The chart library did not load.";
      });
      return;
    }
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (entry.isIntersecting) {
          observer.unobserve(entry.target);
          var figure = figures[entry.target.dataset.figure];
          if (figure) {
            draw(entry.target, figure);
          }
        }
      });
    }, { rootMargin: "200px" });
    elements.forEach(function (element) { observer.observe(element); });

    document.querySelectorAll("details[data-table-for]").forEach(function (details) {
      details.addEventListener("toggle", function () {
        if (details.open && !details.dataset.built) {
          details.dataset.built = "true";
          buildTable(details, figures[details.dataset.tableFor] || { data: [] });
        }
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
