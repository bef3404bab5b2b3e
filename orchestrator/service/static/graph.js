/* mm-reactor renderer, part 2: layered drawings of small directed graphs (the plan, the lineage). */
(function (M) {
  "use strict";
  let markers = 0;

  /** Layer each node one after its deepest parent; order a layer by its parents' mean position. */
  M.layoutDag = function (nodes, edges, { nodeWidth = 170, nodeHeight = 50, gapX = 60, gapY = 16 } = {}) {
    const ids = new Set(nodes.map((n) => n.id));
    const parents = new Map(nodes.map((n) => [n.id, []]));
    for (const [from, to] of edges) if (ids.has(from) && ids.has(to) && from !== to) parents.get(to).push(from);
    const layerOf = new Map();
    const visiting = new Set();
    const depth = (id) => {
      if (layerOf.has(id)) return layerOf.get(id);
      if (visiting.has(id)) return 0;  // a cycle: draw it rather than loop
      visiting.add(id);
      const d = parents.get(id).reduce((deepest, p) => Math.max(deepest, depth(p) + 1), 0);
      visiting.delete(id);
      layerOf.set(id, d);
      return d;
    };
    nodes.forEach((n) => depth(n.id));
    const layers = [];
    nodes.forEach((n) => (layers[layerOf.get(n.id)] = layers[layerOf.get(n.id)] || []).push(n));
    const row = new Map();
    layers.forEach((layer, index) => {
      if (index > 0) {
        const mean = (n) => {
          const ps = parents.get(n.id);
          return ps.length ? ps.reduce((sum, p) => sum + row.get(p), 0) / ps.length : Infinity;
        };
        layer.sort((a, b) => mean(a) - mean(b));
      }
      layer.forEach((n, i) => row.set(n.id, i));
    });
    const rows = Math.max(1, ...layers.map((l) => l.length));
    const positions = new Map();
    layers.forEach((layer, index) => {
      const offset = ((rows - layer.length) * (nodeHeight + gapY)) / 2;
      layer.forEach((n, i) => positions.set(n.id, { x: index * (nodeWidth + gapX), y: offset + i * (nodeHeight + gapY) }));
    });
    return {
      positions, layerOf, nodeWidth, nodeHeight,
      width: layers.length * (nodeWidth + gapX) - gapX,
      height: rows * (nodeHeight + gapY) - gapY,
    };
  };

  /** An <svg> of the graph; drawNode(node, group, layout) fills each node's <g>.
      An edge between neighbouring layers is a curve; one that skips layers runs in a lane below the
      nodes, so it never passes behind a node it does not touch. */
  M.drawDag = function (nodes, edges, drawNode, options = {}) {
    const layout = M.layoutDag(nodes, edges, options);
    const { nodeWidth: w, nodeHeight: h, positions, layerOf } = layout;
    const drawn = edges.filter(([from, to]) => positions.has(from) && positions.has(to) && from !== to);
    const long = drawn.filter(([from, to]) => Math.abs(layerOf.get(to) - layerOf.get(from)) > 1).length;
    const height = layout.height + (long ? 14 + 10 * long : 0);
    const pad = 8;
    const marker = `mmr-arrow-${++markers}`;
    const svg = M.s("svg", {
      class: `mmr-dag ${options.className || ""}`,
      viewBox: `${-pad} ${-pad} ${layout.width + 2 * pad} ${height + 2 * pad}`,
      width: layout.width + 2 * pad,
      role: "img",
      "aria-label": options.label || "graph",
    });
    svg.appendChild(M.s("defs", null, M.s("marker", {
      id: marker, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse",
    }, M.s("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "mmr-arrowhead" }))));
    let lanes = 0;
    for (const [from, to] of drawn) {
      const a = positions.get(from);
      const b = positions.get(to);
      const [x0, y0, x1, y1] = [a.x + w, a.y + h / 2, b.x, b.y + h / 2];
      let d;
      if (Math.abs(layerOf.get(to) - layerOf.get(from)) > 1) {
        const lane = layout.height + 14 + 10 * lanes++;
        d = `M ${x0} ${y0} C ${x0 + 22} ${y0}, ${x0 + 22} ${lane}, ${x0 + 44} ${lane} L ${x1 - 44} ${lane} ` +
          `C ${x1 - 22} ${lane}, ${x1 - 22} ${y1}, ${x1 - 2} ${y1}`;
      } else {
        const bend = Math.max(20, (x1 - x0) / 2);
        d = `M ${x0} ${y0} C ${x0 + bend} ${y0}, ${x1 - bend} ${y1}, ${x1 - 2} ${y1}`;
      }
      svg.appendChild(M.s("path", {
        class: "mmr-edge", dataset: { from: String(from), to: String(to) }, d, "marker-end": `url(#${marker})`,
      }));
    }
    for (const node of nodes) {
      const p = positions.get(node.id);
      const group = M.s("g", { class: "mmr-node", transform: `translate(${p.x} ${p.y})` });
      group.appendChild(M.s("rect", { class: "mmr-node-box", width: w, height: h, rx: 7 }));
      drawNode(node, group, layout);
      svg.appendChild(group);
    }
    return svg;
  };

  /** Text that fits a node: cut with an ellipsis past max characters (the full text is in a <title>). */
  M.svgText = function (text, attrs, max) {
    const shown = text.length > max ? text.slice(0, max - 1) + "…" : text;
    return M.s("text", attrs, shown, text.length > max ? M.s("title", null, text) : null);
  };
})(window.MMReactor = window.MMReactor || {});
