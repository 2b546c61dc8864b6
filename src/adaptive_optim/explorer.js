// The static explorer of adaptive_optim.explorers: draws precomputed paths, loss curves and legend
// lines, and re-draws them when a slider moves. Self-contained: no library, no network.
// Twin of explorers._figure_html (the live version); both follow explorers.LAYOUT, and what is drawn
// (paths cut far off the map, loss levels, legend lines) was computed in Python for both.
function aoExplorer(root) {
  if (!root || root.dataset.ready) return;
  root.dataset.ready = "1";
  const data = JSON.parse(root.querySelector("script.ao-data").textContent);
  const L = data.layout, M = L.map, P = L.loss;
  const NS = "http://www.w3.org/2000/svg";
  const S = data.steps + 1;
  const uid = root.id;

  // On the website the line above each explorer says what this version is (the kernel's one is in the notebook).
  document.querySelectorAll(".ao-run-note").forEach((note) => {
    note.textContent = "These sliders replay runs computed when the book was built. In Jupyter or on Colab, " +
      "running the notebook's cell gives live sliders, with menus for other landscapes and starts.";
  });

  function el(tag, attrs, parent, text) {
    const node = document.createElementNS(NS, tag);
    for (const k in attrs) node.setAttribute(k, attrs[k]);
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }
  function html(tag, cls, parent, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }
  function bytes(b64) {
    const s = atob(b64), out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }
  async function inflate(b64) {
    const stream = new Blob([bytes(b64)]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }
  const fmt = (v) => String(Math.round(v * 10) / 10);
  const superscript = (n) => "10" + String(n).replace(/./g, (c) => "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"["-0123456789".indexOf(c)]);
  const star = (x, y, parent) => el("path", {d: "M" + fmt(x) + " " + fmt(y - 7) + "l2.3 4.7h5.2l-4.2 3.2 1.6 5.1-4.9-3-4.9 3 1.6-5.1-4.2-3.2h5.2z",
                                             fill: "#111", stroke: "#fff", "stroke-width": 1}, parent);
  const circle = (x, y, parent) => el("circle", {cx: fmt(x), cy: fmt(y), r: 5, fill: "#fff", stroke: "#111", "stroke-width": 1.5}, parent);

  const controls = root.querySelector(".ao-controls");
  const figure = root.querySelector(".ao-figure");

  // The map: contours, paths (clipped to it), start and minima; a key below it.
  const mh = M.height + M.key;
  const map = el("svg", {class: "ao-map", width: M.width, height: mh, viewBox: "0 0 " + M.width + " " + mh,
                         "font-family": L.font, "font-size": L.size, role: "img",
                         "aria-label": "paths of the optimizers on the " + data.landscape + " landscape"}, figure);
  const defs = el("defs", {}, map);
  el("rect", {width: M.width, height: M.height}, el("clipPath", {id: uid + "-map"}, defs));
  el("image", {href: figure.dataset.background, width: M.width, height: M.height}, map);
  const onMap = el("g", {"clip-path": "url(#" + uid + "-map)"}, map);
  const haloLayer = el("g", {}, onMap), pathLayer = el("g", {}, onMap);  // all halos under all paths
  for (const [mx, my] of data.minima) star(mx, my, onMap);
  circle(data.start[0], data.start[1], onMap);
  el("rect", {width: M.width, height: M.height, fill: "none", stroke: "#888"}, map);
  const ky = M.height + M.key - 6;
  circle(8, ky - 4, map); el("text", {x: 18, y: ky}, map, "start");
  star(70, ky - 4, map); el("text", {x: 80, y: ky}, map, "minimum");

  // The loss panel: log scale of f − f_min, curves clipped to their frame.
  const pw = P.width - P.left - P.right, ph = P.height - P.top - P.bottom;
  const [lo, hi] = L.decades;
  const loss = el("svg", {class: "ao-loss", width: P.width, height: P.height, viewBox: "0 0 " + P.width + " " + P.height,
                          "font-family": L.font, "font-size": L.size, role: "img", "aria-label": "loss curves"}, figure);
  el("rect", {x: -8, y: -10, width: pw + 16, height: ph + 20}, el("clipPath", {id: uid + "-loss"}, el("defs", {}, loss)));
  const panel = el("g", {transform: "translate(" + P.left + "," + P.top + ")"}, loss);
  el("rect", {width: pw, height: ph, fill: "none", stroke: "#888"}, panel);
  for (let d = lo; d <= hi; d += 3) {
    const y = ph * (hi - d) / (hi - lo);
    el("line", {x1: 0, x2: pw, y1: fmt(y), y2: fmt(y), stroke: "#e4e4e4"}, panel);
    el("text", {x: -5, y: fmt(y + 4), "text-anchor": "end"}, panel, superscript(d));
  }
  el("text", {x: pw / 2, y: ph + 18, "text-anchor": "middle"}, panel, "step t (0 to " + data.steps + ")");
  el("text", {transform: "translate(-38," + ph / 2 + ") rotate(-90)", "text-anchor": "middle"}, panel, "loss \u2212 minimum");
  const curves = el("g", {"clip-path": "url(#" + uid + "-loss)"}, panel);

  const legend = html("p", "ao-legend", figure);
  const marksNote = html("span", "", null, "\u25bc \u25b2: the loss is below or above the panel from there on");
  marksNote.style.color = "#555";
  marksNote.style.fontWeight = "normal";

  const runs = data.runs.map((run, r) => {
    const width = 2 + 1.5 * (data.runs.length - 1 - r);  // explorers.path_width: earlier runs wider
    const halo = el("polyline", {fill: "none", stroke: "#fff", "stroke-width": width + 2, "stroke-linejoin": "round", "stroke-opacity": 0.8}, haloLayer);
    const path = el("polyline", {fill: "none", stroke: run.colour, "stroke-width": width, "stroke-linejoin": "round"}, pathLayer);
    const end = el("circle", {r: 4, fill: run.colour, stroke: "#fff", "stroke-width": 1.5}, pathLayer);  // where it ended
    const curve = el("path", {fill: "none", stroke: run.colour, "stroke-width": 2, "stroke-linejoin": "round"}, curves);
    const marks = el("g", {}, curves);
    const line = html("span", "", legend);
    line.style.color = run.colour;
    const inputs = run.sliders.map((s) => {
      const row = html("label", "ao-row", controls);
      row.style.setProperty("--ao-colour", run.colour);
      const name = html("span", "ao-name", row, run.label + " " + s.symbol);
      name.style.color = run.colour;
      const input = document.createElement("input");
      Object.assign(input, {type: "range", min: 0, max: s.values.length - 1, step: 1, value: s.index});
      input.setAttribute("aria-label", run.label + " " + s.symbol);
      input.setAttribute("aria-valuetext", s.values[s.index]);
      const shown = html("output", "ao-value", null, s.values[s.index]);
      input.addEventListener("input", () => {
        shown.textContent = s.values[+input.value];
        input.setAttribute("aria-valuetext", s.values[+input.value]);
        draw();
      });
      row.append(input, shown);
      return input;
    });
    return {run, halo, path, end, curve, marks, line, inputs, paths: null, losses: null, status: null};
  });
  legend.appendChild(marksNote);

  function combo(entry) {
    let index = 0;
    entry.inputs.forEach((input, i) => { index = index * entry.run.shape[i] + (+input.value); });
    return index;
  }

  function draw() {
    let marked = false;
    for (const entry of runs) {
      if (!entry.paths) continue;
      const c = combo(entry), run = entry.run, n = run.lengths[c];
      const pts = [];
      let ax = 0, ay = 0;
      for (let k = 0; k < n; k++) {
        const i = (c * S + k) * 2;
        ax = (ax + entry.paths[i]) & 0xffff;
        ay = (ay + entry.paths[i + 1]) & 0xffff;
        pts.push(fmt((ax >= 32768 ? ax - 65536 : ax) / 10) + "," + fmt((ay >= 32768 ? ay - 65536 : ay) / 10));
      }
      entry.path.setAttribute("points", pts.join(" "));
      entry.halo.setAttribute("points", pts.join(" "));
      entry.end.style.display = n ? "" : "none";
      if (n) {
        const [ex, ey] = pts[n - 1].split(",");
        entry.end.setAttribute("cx", ex);
        entry.end.setAttribute("cy", ey);
      }
      // Loss levels 1 and 255 are the panel's floor and ceiling: no line along them, a mark where first reached.
      let d = "", pen = "M";
      const seen = {};
      entry.marks.textContent = "";
      for (let k = 0; k < S; k++) {
        const q = entry.losses[c * S + k];
        const x = k / Math.max(data.steps, 1) * pw, y = ph * (1 - (q - 1) / 254);
        if ((q === 1 || q === 255) && !seen[q]) {
          seen[q] = true;
          marked = true;
          el("path", {d: "M" + fmt(x) + " " + fmt(y) + (q === 1 ? "l-6 -9h12z" : "l-6 9h12z"), fill: run.colour,
                      stroke: "#fff", "stroke-width": 1}, entry.marks);
        }
        if (q === 0 || q === 1 || q === 255) { pen = "M"; continue; }
        d += pen + fmt(x) + " " + fmt(y);
        pen = "L";
      }
      entry.curve.setAttribute("d", d);
      entry.line.textContent = entry.status[c];
    }
    marksNote.style.display = marked ? "block" : "none";
    root.dataset.drawn = String(+(root.dataset.drawn || 0) + 1);
  }

  Promise.all(runs.map(async (entry) => {
    entry.paths = new Int16Array((await inflate(entry.run.paths)).buffer);
    entry.losses = await inflate(entry.run.losses);
    entry.status = new TextDecoder().decode(await inflate(entry.run.status)).split("\n");
  })).then(draw);
}
