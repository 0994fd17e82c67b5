"use strict";
// The live cut of a ucm2 hierarchy: the regions wnet_tf.bsds.cut_hierarchy gives at a threshold t,
// the 8-connected components of ucm2 <= t on the (2H+1) x (2W+1) grid read at the pixel cells.
// Pixel (y, x) is cell (2y+1, 2x+1) and corner (i, j) is cell (2i, 2j). Two 8-neighbour pixels are
// joined when the lowest cell touching both (the boundary cell between them or a corner beside it)
// is <= t, which is what the grid's components say, since pixel cells are 0.
// Levels are indices into the hierarchy's sorted distinct values, so comparisons are exact.
var wnetCut = (function () {
  const NEVER = 0xffffffff;

  // Decodes what page.py's encode() writes: base64 of zlib'ed little-endian integers.
  async function decode(encoded) {
    const binary = atob(encoded.data);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    const buffer = await new Response(stream).arrayBuffer();
    const Type = { 1: Uint8Array, 2: Uint16Array, 4: Uint32Array }[encoded.bytes];
    return new Type(buffer);
  }

  // The level of every pair of 8-neighbour pixels, once per image: right[p] joins p and p+1,
  // down[p] p and p+W, cross[p] both diagonals of the square p, p+1, p+W, p+W+1.
  function pairLevels(ucm, height, width) {
    const cols = 2 * width + 1, n = height * width;
    const cell = (r, c) => ucm[r * cols + c];
    const corner = (i, j) => ucm[2 * i * cols + 2 * j];
    const right = new Uint32Array(n).fill(NEVER);
    const down = new Uint32Array(n).fill(NEVER);
    const cross = new Uint32Array(n).fill(NEVER);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const p = y * width + x;
        if (x + 1 < width) {
          right[p] = Math.min(cell(2 * y + 1, 2 * x + 2), corner(y, x + 1), corner(y + 1, x + 1));
        }
        if (y + 1 < height) {
          down[p] = Math.min(cell(2 * y + 2, 2 * x + 1), corner(y + 1, x), corner(y + 1, x + 1));
          if (x + 1 < width) cross[p] = corner(y + 1, x + 1);
        }
      }
    }
    return { height, width, right, down, cross };
  }

  // The index of the highest level <= t, -1 if none: pairs at or below it are joined.
  function levelIndex(levels, t) {
    let lo = 0, hi = levels.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (levels[mid] <= t) lo = mid + 1; else hi = mid;
    }
    return lo - 1;
  }

  // Region ids 0..count-1 of every pixel, numbered in raster order of their first pixel.
  function cut(pairs, k) {
    const { width, right, down, cross } = pairs, n = right.length;
    const parent = new Int32Array(n);
    for (let i = 0; i < n; i++) parent[i] = i;
    const find = (i) => {
      while (parent[i] !== i) i = parent[i] = parent[parent[i]];
      return i;
    };
    const join = (a, b) => {
      a = find(a); b = find(b);
      if (a < b) parent[b] = a; else if (b < a) parent[a] = b;
    };
    for (let p = 0; p < n; p++) {
      if (right[p] <= k) join(p, p + 1);
      if (down[p] <= k) join(p, p + width);
      if (cross[p] <= k) { join(p, p + width + 1); join(p + 1, p + width); }
    }
    const labels = new Int32Array(n), id = new Int32Array(n).fill(-1);
    let count = 0;
    for (let p = 0; p < n; p++) {
      const root = find(p);
      if (id[root] < 0) id[root] = count++;
      labels[p] = id[root];
    }
    return { labels, count };
  }

  return { decode, pairLevels, levelIndex, cut };
})();
