// The static explorer of adaptive_optim.explorers: draws precomputed paths and loss curves, and
// re-draws them when a slider moves. Self-contained: no library, no network.
// Twin of explorers._draw_svg (the live version); both follow explorers.LAYOUT.
function aoExplorer(root) {
  if (!root || root.dataset.ready) return;
  root.dataset.ready = "1";
  const data = JSON.parse(root.querySelector("script.ao-data").textContent);
  const L = data.layout, M = L.map, P = L.loss;
  const NS = "http://www.w3.org/2000/svg";
  const S = data.steps + 1;

  function el(tag, attrs, parent, text) {
    const node = document.createElementNS(NS, tag);
    for (const k in attrs) node.setAttribute(k, attrs[k]);
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

  const controls = root.querySelector(".ao-controls");
  const figure = root.querySelector(".ao-figure");
  const width = M.width + 16 + P.width;
  const svg = el("svg", {width: width, height: M.height, "font-family": L.font, "font-size": 11});
  svg.style.maxWidth = "100%";
  svg.setAttribute("viewBox", "0 0 " + width + " " + M.height);
  figure.appendChild(svg);
  el("image", {href: figure.dataset.background, width: M.width, height: M.height}, svg);
  el("rect", {width: M.width, height: M.height, fill: "none", stroke: "#999"}, svg);
  for (const [mx, my] of data.minima) {
    el("path", {d: "M" + fmt(mx) + " " + fmt(my - 6) + "l2 4h5l-4 3 2 5-5-3-5 3 2-5-4-3h5z", fill: "#222"}, svg);
  }
  el("circle", {cx: fmt(data.start[0]), cy: fmt(data.start[1]), r: 4, fill: "white", stroke: "#222"}, svg);
  const ox = M.width + 16, pw = P.width - P.left - P.right, ph = P.height - P.top - P.bottom;
  const [lo, hi] = L.decades;
  const panel = el("g", {transform: "translate(" + ox + ",0)"}, svg);
  el("rect", {x: P.left, y: P.top, width: pw, height: ph, fill: "none", stroke: "#999"}, panel);
  for (let d = lo; d <= hi; d += 3) {
    el("text", {x: P.left - 4, y: fmt(P.top + ph * (hi - d) / (hi - lo) + 4), "text-anchor": "end"}, panel, "1e" + d);
  }
  el("text", {x: P.left + pw / 2, y: P.height - 4, "text-anchor": "middle"}, panel, "step (0 to " + data.steps + ")");
  el("text", {transform: "translate(10," + (P.top + ph / 2) + ") rotate(-90)", "text-anchor": "middle"}, panel, "loss \u2212 minimum");

  const runs = data.runs.map((run, r) => {
    const path = el("polyline", {fill: "none", stroke: run.colour, "stroke-width": 1.6, "stroke-linejoin": "round"}, svg);
    const curve = el("polyline", {fill: "none", stroke: run.colour, "stroke-width": 1.6}, svg);
    const legend = el("text", {x: ox + P.left + 6, y: P.top + 16 + 15 * r, fill: run.colour, "font-weight": "bold"}, svg);
    const inputs = run.sliders.map((s) => {
      const row = document.createElement("label");
      row.style.display = "block";
      const name = document.createElement("span");
      name.textContent = run.label + " " + s.name + " ";
      name.style.display = "inline-block";
      name.style.minWidth = "17em";
      const input = document.createElement("input");
      Object.assign(input, {type: "range", min: 0, max: s.values.length - 1, step: 1, value: s.index});
      input.style.verticalAlign = "middle";
      input.setAttribute("aria-label", run.label + " " + s.name);
      const shown = document.createElement("output");
      shown.textContent = " " + s.values[s.index];
      input.addEventListener("input", () => { shown.textContent = " " + s.values[+input.value]; draw(); });
      row.append(name, input, shown);
      controls.appendChild(row);
      return input;
    });
    return {run, path, curve, legend, inputs, paths: null, losses: null};
  });

  function combo(entry) {
    let index = 0;
    entry.inputs.forEach((input, i) => { index = index * entry.run.shape[i] + (+input.value); });
    return index;
  }

  function draw() {
    for (const entry of runs) {
      if (!entry.paths) continue;
      const c = combo(entry), run = entry.run, n = run.lengths[c];
      const pts = [];
      let ax = 0, ay = 0;
      for (let k = 0; k < S; k++) {
        const i = (c * S + k) * 2;
        ax = (ax + entry.paths[i]) & 0xffff;
        ay = (ay + entry.paths[i + 1]) & 0xffff;
        if (k < n) pts.push(fmt((ax >= 32768 ? ax - 65536 : ax) / 10) + "," + fmt((ay >= 32768 ? ay - 65536 : ay) / 10));
      }
      entry.path.setAttribute("points", pts.join(" "));
      const curve = [];
      for (let k = 0; k < S; k++) {
        const q = entry.losses[c * S + k];
        if (q > 0) curve.push(fmt(ox + P.left + k / Math.max(data.steps, 1) * pw) + "," + fmt(P.top + ph * (1 - (q - 1) / 254)));
      }
      entry.curve.setAttribute("points", curve.join(" "));
      const at = run.diverged_at[c];
      entry.legend.textContent = run.label + ": " + (at >= 0 ? "diverged at step " + at : "final loss " + run.final[c]);
      root.dataset.drawn = String(+(root.dataset.drawn || 0) + 1);
    }
  }

  Promise.all(runs.map(async (entry) => {
    entry.paths = new Int16Array((await inflate(entry.run.paths)).buffer);
    entry.losses = await inflate(entry.run.losses);
  })).then(draw);
}
