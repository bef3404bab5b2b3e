/* mm-reactor renderer, part 4: artifact lineage. A graph of every artifact (edges run from parents to
   what was made of them) and an inspector that tells one artifact's ancestry and uses. */
(function (M) {
  "use strict";

  function related(handle, artifacts) {
    const up = new Set();
    const down = new Set();
    const climb = (h) => (artifacts[h] ? artifacts[h].parents : []).forEach((p) => { if (!up.has(p)) { up.add(p); climb(p); } });
    const children = (h) => Object.values(artifacts).filter((a) => (a.parents || []).includes(h)).map((a) => a.handle);
    const descend = (h) => children(h).forEach((c) => { if (!down.has(c)) { down.add(c); descend(c); } });
    climb(handle);
    descend(handle);
    return { up, down, children: children(handle) };
  }

  /** The lineage graph; selecting an artifact highlights its ancestors and descendants. */
  M.lineageGraph = function (view) {
    const artifacts = Object.values(view.artifacts);
    const nodes = artifacts.map((a) => ({ id: a.handle, info: a }));
    const edges = artifacts.flatMap((a) => (a.parents || []).map((p) => [p, a.handle]));
    return M.drawDag(nodes, edges, (node, group) => {
      const { info } = node;
      group.classList.add(`mmr-kind-${info.kind}`);
      group.dataset.handle = info.handle;
      group.setAttribute("tabindex", "0");
      group.addEventListener("click", () => view.select(info.handle));
      group.addEventListener("keydown", (e) => { if (e.key === "Enter") view.select(info.handle); });
      group.appendChild(M.svgText(info.handle, { x: 10, y: 20, class: "mmr-node-title" }, 22));
      const origin = info.producer === "input" ? `input ${info.kind}` : `${info.producer} · step ${info.producer_step}`;
      group.appendChild(M.svgText(origin, { x: 10, y: 38, class: "mmr-node-sub" }, 26));
      group.appendChild(M.s("title", null, M.describe(info)));
    }, { className: "mmr-lineage-graph", label: "artifact lineage", nodeWidth: 190, nodeHeight: 48 });
  };

  /** Mark the selected artifact, its ancestors and descendants in every lineage graph under root. */
  M.highlightLineage = function (root, handle, artifacts) {
    const { up, down } = related(handle, artifacts);
    const lit = new Set([handle, ...up, ...down]);
    for (const svg of root.querySelectorAll(".mmr-lineage-graph")) {
      svg.classList.toggle("mmr-focus", Boolean(handle));
      for (const node of svg.querySelectorAll(".mmr-node")) {
        node.classList.toggle("mmr-on", lit.has(node.dataset.handle));
        node.classList.toggle("mmr-selected", node.dataset.handle === handle);
      }
      for (const edge of svg.querySelectorAll(".mmr-edge")) {
        edge.classList.toggle("mmr-on", lit.has(edge.dataset.from) && lit.has(edge.dataset.to) &&
          (up.has(edge.dataset.from) || edge.dataset.from === handle || down.has(edge.dataset.to)));
      }
    }
  };

  function ancestry(handle, view, seen) {
    const info = view.artifacts[handle];
    if (!info) return M.h("li", null, handle, " (not in this result)");
    const origin = info.producer === "input" ? " input" : [" ← ", info.producer, " ", view.stepLink(info.producer_step)];
    const repeat = seen.has(handle);
    seen.add(handle);
    const parents = repeat ? [] : info.parents || [];
    return M.h("li", null, M.chip(handle, view), origin,
      parents.length ? M.h("ul", null, parents.map((p) => ancestry(p, view, seen))) : null);
  }

  /** The inspector's content for one artifact: what it is, where it came from, what used it. */
  M.inspect = function (handle, view) {
    const info = view.artifacts[handle];
    const { children } = related(handle, view.artifacts);
    const usedBy = view.result.steps.filter((s) => s.tool && JSON.stringify(s.arguments).includes(JSON.stringify(handle)));
    return [
      M.h("h3", null, M.chip(handle, view), " ", info ? info.kind : ""),
      info ? M.h("p", { class: "mmr-muted" }, M.describe(info)) : null,
      info ? M.artifactPreview(handle, view) : null,
      M.h("h4", null, "lineage"),
      M.h("ul", { class: "mmr-ancestry" }, ancestry(handle, view, new Set())),
      M.h("h4", null, "used by"),
      usedBy.length || children.length
        ? M.h("p", null, usedBy.map((s) => [view.stepLink(s.index), ` ${s.tool} `]), children.length ? ["→ ", children.map((c) => [M.chip(c, view), " "])] : null)
        : M.h("p", { class: "mmr-muted" }, "nothing in this run"),
    ];
  };
})(window.MMReactor = window.MMReactor || {});
