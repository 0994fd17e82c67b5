"use strict";
// The page of `wnet-tf view`: a grid of thumbnails, the open image cut live at the slider's
// threshold (wnetCut), and the evaluations. index.js calls start(); each data/NAME.js, loaded when
// its image is opened, calls register(). Classic scripts: Chromium loads no modules from file://.
var wnetView = (function () {
  const $ = (id) => document.getElementById(id);
  const state = { name: null, threshold: 0, count: 0, labels: null, cutMs: 0, mode: "boundaries" };
  const loaded = {}, prepared = new Map(), KEEP = 6;
  let index, method, current, lastLevel = null;

  function register(name, data) { loaded[name] = data; }

  function script(name) {
    return new Promise((resolve, reject) => {
      const tag = document.createElement("script");
      tag.src = "index_files/data/" + encodeURIComponent(name) + ".js";
      tag.onload = () => { tag.remove(); resolve(loaded[name]); };
      tag.onerror = () => reject(new Error("cannot load " + tag.src));
      document.head.append(tag);
    });
  }

  function pixels(url, width, height) {
    return new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => {
        const ctx = Object.assign(document.createElement("canvas"), { width, height })
          .getContext("2d");
        ctx.drawImage(img, 0, 0);
        resolve(ctx.getImageData(0, 0, width, height).data);
      };
      img.onerror = () => reject(new Error("the photo does not decode"));
      img.src = url;
    });
  }

  // An image ready to cut: its pair levels, photo pixels and segments. The last few are kept.
  async function prepare(name) {
    if (prepared.has(name)) return prepared.get(name);
    const data = loaded[name] || (await script(name));
    const { width, height, levels } = data;
    const image = {
      name, width, height, levels,
      pairs: wnetCut.pairLevels(await wnetCut.decode(data.ucm), height, width),
      photo: data.photo ? await pixels(data.photo, width, height) : null,
      segments: data.segments ? await wnetCut.decode(data.segments) : null,
    };
    delete loaded[name];
    prepared.set(name, image);
    if (prepared.size > KEEP) prepared.delete(prepared.keys().next().value);
    return image;
  }

  // --------------------------------------------------------------------- the open image

  const evaluation = () => index.evaluations[method];
  const scores = (name) => (evaluation() && evaluation().images[name]) || null;

  async function open(name) {
    const image = await prepare(name);
    current = image;
    lastLevel = null;
    state.name = name;
    location.hash = encodeURIComponent(name);
    document.querySelectorAll(".card.open").forEach((c) => c.classList.remove("open"));
    const card = document.querySelector(`.card[data-name="${CSS.escape(name)}"]`);
    if (card) card.classList.add("open");
    $("viewer").hidden = false;
    $("viewer-name").textContent = name;
    const canvas = $("canvas");
    canvas.width = image.width;
    canvas.height = image.height;
    const top = Math.max(1, image.levels[image.levels.length - 1]);
    $("slider").max = top;
    const marks = [];
    if (evaluation() && evaluation().ods != null) marks.push(["ODS", evaluation().ods]);
    if (scores(name)) marks.push(["OIS", scores(name).OIS]);
    $("marks").replaceChildren(...marks.map(([label, t], k) => {
      const mark = document.createElement("span");
      mark.style.top = 1.2 + 1.1 * k + "em";
      mark.textContent = "\u25b2" + label;
      mark.style.left = (100 * t) / top + "%";
      mark.title = `${label} threshold ${t}`;
      mark.onclick = () => setThreshold(t);
      return mark;
    }));
    for (const input of document.querySelectorAll("input[name=mode]")) {
      input.disabled = (input.value === "segments" && !image.segments) ||
        (input.value === "mean" && !image.photo);
      if (input.disabled && input.checked) document.querySelector("input[value=boundaries]").click();
    }
    setThreshold(marks.length ? marks[0][1] : index.threshold ?? top / 2);
  }

  function setThreshold(t) {
    state.threshold = t;
    $("slider").value = t;
    $("threshold").textContent = (+t).toFixed(3);
    const level = wnetCut.levelIndex(current.levels, t);
    if (level !== lastLevel) {
      const start = performance.now();
      const { labels, count } = wnetCut.cut(current.pairs, level);
      state.cutMs = performance.now() - start;
      Object.assign(state, { labels, count });
      lastLevel = level;
    }
    $("count").textContent = `${state.count} regions`;
    render();
  }

  const GOLDEN = 0.618033988749895;
  // wnet_tf.images.palette: the colours of segment's overlays.
  function colour(i) {
    const h = (i * GOLDEN) % 1, s = 0.85 - 0.3 * (Math.floor(i / 2) % 2), v = 0.95 - 0.3 * (i % 2);
    const f = (n) => {
      const k = (n + h * 6) % 6;
      return Math.round(255 * (v - v * s * Math.max(0, Math.min(k, 4 - k, 1))));
    };
    return [f(5), f(3), f(1)];
  }

  function render() {
    const { width, height, photo, segments } = current, n = width * height;
    const out = new ImageData(width, height), px = out.data;
    const labels = state.mode === "segments" ? segments : state.labels;
    let fill = null;
    if (state.mode === "mean") {
      const sums = new Float64Array(4 * state.count);
      for (let p = 0; p < n; p++) {
        const r = 4 * labels[p];
        for (let c = 0; c < 3; c++) sums[r + c] += photo[4 * p + c];
        sums[r + 3] += 1;
      }
      fill = (p, c) => sums[4 * labels[p] + c] / sums[4 * labels[p] + 3];
    } else if (state.mode === "segments") {
      const colours = new Map();
      fill = (p, c) => {
        if (!colours.has(labels[p])) colours.set(labels[p], colour(labels[p]));
        const under = photo ? photo[4 * p + c] : 0;
        return 0.5 * under + 0.5 * colours.get(labels[p])[c];
      };
    } else {
      fill = photo ? (p, c) => photo[4 * p + c] : () => 0;
    }
    for (let y = 0, p = 0; y < height; y++) {
      for (let x = 0; x < width; x++, p++) {
        const edge = state.mode === "boundaries" &&
          ((x + 1 < width && labels[p + 1] !== labels[p]) ||
           (y + 1 < height && labels[p + width] !== labels[p]));
        for (let c = 0; c < 3; c++) px[4 * p + c] = edge ? [255, 40, 40][c] : fill(p, c);
        px[4 * p + 3] = 255;
      }
    }
    $("canvas").getContext("2d").putImageData(out, 0, 0);
  }

  function step(by) {
    const names = index.images.map((i) => i.name);
    const k = names.indexOf(state.name);
    if (k >= 0) open(names[(k + by + names.length) % names.length]);
  }

  // --------------------------------------------------------------------- the grid

  function grid() {
    const cards = index.images.map((image) => {
      const card = document.createElement("figure");
      card.className = "card";
      card.dataset.name = image.name;
      card.style.margin = 0;
      const img = document.createElement("img");
      img.loading = "lazy";
      img.alt = image.name;
      img.onload = () => { img.dataset.loaded = performance.now(); };
      img.src = "index_files/thumbs/" + encodeURIComponent(image.name) + ".jpg";
      const caption = document.createElement("div");
      const s = scores(image.name);
      caption.textContent = image.name + (s && s.SC != null ? `  SC ${s.SC.toFixed(3)}` : "");
      card.append(img, caption);
      card.onclick = () => open(image.name).then(() => $("viewer").scrollIntoView());
      return card;
    });
    $("grid").replaceChildren(...cards);
  }

  // --------------------------------------------------------------------- the evaluations

  const COLUMNS = [
    ["SC ODS", (s) => s.SC && s.SC.ODS], ["SC OIS", (s) => s.SC && s.SC.OIS],
    ["PRI ODS", (s) => s.PRI && s.PRI.ODS], ["PRI OIS", (s) => s.PRI && s.PRI.OIS],
    ["VI ODS", (s) => s.VI && s.VI.ODS], ["VI OIS", (s) => s.VI && s.VI.OIS],
    ["F ODS", (s) => s.boundary && s.boundary.ODS.F], ["F OIS", (s) => s.boundary && s.boundary.OIS.F],
    ["AP", (s) => s.boundary && s.boundary.AP],
  ];
  const METRICS = ["SC", "PRI", "VI", "F"];
  const PALETTE = ["#d33", "#06c", "#393", "#c6c", "#e80", "#555"];

  function row(cells, tag = "td") {
    const tr = document.createElement("tr");
    for (const cell of cells) {
      const td = document.createElement(tag);
      td.textContent = typeof cell === "number" ? cell.toFixed(3) : cell ?? "";
      tr.append(td);
    }
    return tr;
  }

  function summary(evals) {
    const columns = COLUMNS.filter(([, get]) => evals.some((e) => get(e.summary) != null));
    $("summary").replaceChildren(
      row(["method", ...columns.map(([label]) => label)], "th"),
      ...evals.map((e) => row([e.name, ...columns.map(([, get]) => get(e.summary))])),
    );
  }

  function prCurve(evals) {
    const svg = $("pr"), ns = "http://www.w3.org/2000/svg";
    const X = (r) => 40 + 260 * r, Y = (p) => 270 - 250 * p;
    const add = (tag, attrs, text) => {
      const el = document.createElementNS(ns, tag);
      for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
      if (text) el.textContent = text;
      svg.append(el);
    };
    svg.replaceChildren();
    // The region benchmark alone: no curve. (SVG elements have no `hidden` property.)
    svg.style.display = evals.some((e) => e.pr.length) ? "" : "none";
    add("rect", { x: X(0), y: Y(1), width: 260, height: 250, fill: "none", stroke: "#999" });
    add("text", { x: X(0.5), y: 295, "text-anchor": "middle", "font-size": 12 }, "recall");
    add("text", { x: 12, y: Y(0.5), "font-size": 12, transform: `rotate(-90 12 ${Y(0.5)})`,
      "text-anchor": "middle" }, "precision");
    evals.filter((e) => e.pr.length).forEach((e, k) => {
      const colour = PALETTE[k % PALETTE.length];
      const points = e.pr.filter(([, r, p]) => r + p > 0).map(([, r, p]) => `${X(r)},${Y(p)}`);
      add("polyline", { points: points.join(" "), fill: "none", stroke: colour, "stroke-width": 2 });
      const ods = e.summary.boundary.ODS;
      add("circle", { cx: X(ods.recall), cy: Y(ods.precision), r: 4, fill: colour });
      add("text", { x: X(0.05), y: Y(0.05) - 16 * k, fill: colour, "font-size": 12 },
        `${e.name}  F ${ods.F.toFixed(3)}`);
    });
  }

  function scoreTable(evals) {
    const table = $("scores"), names = new Set(index.images.map((i) => i.name));
    const columns = [];
    for (const e of evals) {
      for (const m of METRICS) {
        if (Object.values(e.images).some((s) => s[m] != null)) {
          columns.push([evals.length > 1 ? `${e.name} ${m}` : m, e, m]);
        }
      }
    }
    const images = [...new Set(evals.flatMap((e) => Object.keys(e.images)))];
    const rows = images.map((name) => [name, ...columns.map(([, e, m]) => e.images[name]?.[m])]);
    const head = row(["image", ...columns.map(([label]) => label)], "th");
    let sortedBy = 0, ascending = true;
    const body = document.createElement("tbody");
    const fill = () => body.replaceChildren(...rows.map((cells) => {
      const tr = row(cells);
      if (names.has(cells[0])) tr.onclick = () => open(cells[0]).then(() => $("viewer").scrollIntoView());
      return tr;
    }));
    [...head.children].forEach((th, k) => {
      th.onclick = () => {
        ascending = sortedBy === k ? !ascending : true;
        sortedBy = k;
        const key = (r) => r[k] ?? -Infinity;
        rows.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0) * (ascending ? 1 : -1));
        fill();
      };
    });
    const thead = document.createElement("thead");
    thead.append(head);
    table.replaceChildren(thead, body);
    fill();
  }

  // --------------------------------------------------------------------- start

  function start(data) {
    index = data;
    method = data.method;
    $("problems").replaceChildren(...data.problems.map((text) => {
      const li = document.createElement("li");
      li.textContent = text;
      return li;
    }));
    if (data.evaluations.length) {
      $("evaluation").hidden = false;
      summary(data.evaluations);
      prCurve(data.evaluations);
      scoreTable(data.evaluations);
    }
    grid();
    $("slider").oninput = (event) => setThreshold(+event.target.value);
    for (const input of document.querySelectorAll("input[name=mode]")) {
      input.onchange = () => { state.mode = input.value; render(); };
    }
    $("previous").onclick = () => step(-1);
    $("next").onclick = () => step(1);
    // index.html#NAME opens NAME: a link to one image.
    const follow = () => {
      const wanted = decodeURIComponent(location.hash.slice(1));
      if (wanted !== state.name && data.images.some((i) => i.name === wanted)) open(wanted);
    };
    window.addEventListener("hashchange", follow);
    follow();
  }

  return { start, register, open, setThreshold, state };
})();
