/* mm-reactor renderer, part 3: artifacts. Each image is drawn with the boxes and masks made from it
   (VisProg's visual rationale): boxes as labelled rectangles, masks as a tinted overlay. */
(function (M) {
  "use strict";
  const PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#0b9fb3", "#f032e6", "#808000"];
  let filters = 0;

  /** The image (or video) an overlay (boxes, mask) is for: its first such parent, else its parents'. */
  M.baseImage = function (handle, artifacts, seen = new Set()) {
    const info = artifacts[handle];
    if (!info || seen.has(handle)) return null;
    seen.add(handle);
    const parents = info.parents || [];
    const direct = parents.find((p) => artifacts[p] && (artifacts[p].kind === "image" || artifacts[p].kind === "video"));
    if (direct) return direct;
    for (const p of parents) {
      const found = M.baseImage(p, artifacts, seen);
      if (found) return found;
    }
    return null;
  };

  /** For each image handle, the overlay handles drawn on it; each overlay gets a colour. */
  M.overlayIndex = function (artifacts) {
    const overlays = {};
    const colors = {};
    let next = 0;
    for (const [handle, info] of Object.entries(artifacts)) {
      if (info.kind !== "boxes" && info.kind !== "mask") continue;
      colors[handle] = PALETTE[next++ % PALETTE.length];
      const base = M.baseImage(handle, artifacts);
      if (base) (overlays[base] = overlays[base] || []).push(handle);
    }
    return { overlays, colors };
  };

  function boxLabel(item) {
    const name = item.label || item.text || "";
    const score = typeof item.score === "number" ? item.score.toFixed(2) : "";
    return [name, score].filter(Boolean).join(" ");
  }

  function drawBoxes(handle, view, svg, labels, [W, H]) {
    const items = view.values[handle];
    if (!Array.isArray(items)) return;
    const color = view.colors[handle];
    items.forEach((item, i) => {
      const box = item && item.box;
      if (!Array.isArray(box) || box.length !== 4) return;
      const [x0, y0, x1, y1] = box.map(Number);
      const text = boxLabel(item);
      svg.appendChild(M.s("rect", {
        class: "mmr-box", x: x0, y: y0, width: Math.max(0, x1 - x0), height: Math.max(0, y1 - y0),
        stroke: color, dataset: { source: handle, item: String(i) },
      }, M.s("title", null, `${handle}[${i}] ${text} [${box.join(", ")}]`)));
      if (!text) return;
      labels.appendChild(M.h("span", {
        class: `mmr-box-label${y0 / H < 0.08 ? " mmr-inside" : ""}`,
        style: `left:${(100 * x0) / W}%;top:${(100 * y0) / H}%;background:${color}`,
        dataset: { source: handle },
      }, text));
    });
  }

  function drawMask(handle, view, svg, [W, H]) {
    const url = view.urls[handle];
    if (!url) return;
    const id = `mmr-tint-${++filters}`;
    const hex = view.colors[handle];
    const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255);
    // Colour every pixel, and take its opacity from the mask's brightness (white = inside).
    svg.appendChild(M.s("filter", { id, "color-interpolation-filters": "sRGB" }, M.s("feColorMatrix", {
      type: "matrix", values: `0 0 0 0 ${r}  0 0 0 0 ${g}  0 0 0 0 ${b}  0.5 0 0 0 0`,
    })));
    svg.appendChild(M.s("image", {
      class: "mmr-mask", href: url, x: 0, y: 0, width: W, height: H, preserveAspectRatio: "none",
      filter: `url(#${id})`, dataset: { source: handle },
    }));
  }

  function legend(handle, view, stage) {
    const info = view.artifacts[handle];
    const items = view.values[handle];
    const count = info.kind === "boxes" && Array.isArray(items) ? ` (${items.length})` : "";
    const box = M.h("input", { type: "checkbox", checked: true, "aria-label": `show ${handle}` });
    box.addEventListener("change", () => {
      for (const node of stage.querySelectorAll(`[data-source="${CSS.escape(handle)}"]`)) {
        node.classList.toggle("mmr-hidden", !box.checked);
      }
    });
    return M.h("label", { class: "mmr-legend-item" },
      box, M.h("span", { class: "mmr-swatch", style: `background:${view.colors[handle]}` }), M.chip(handle, view), count);
  }

  /** An image with its overlays, a legend to toggle them, and a caption with its lineage. */
  M.imageFigure = function (handle, view) {
    const info = view.artifacts[handle];
    const [W, H] = info.shape;
    const overlays = view.overlays[handle] || [];
    const svg = M.s("svg", { class: "mmr-overlay", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", "aria-hidden": "true" });
    const labels = M.h("div", { class: "mmr-labels" });
    for (const o of overlays) {
      if (view.artifacts[o].kind === "mask") drawMask(o, view, svg, [W, H]);
    }
    for (const o of overlays) {
      if (view.artifacts[o].kind === "boxes") drawBoxes(o, view, svg, labels, [W, H]);
    }
    const picture = view.urls[handle]
      ? M.h("img", { src: view.urls[handle], alt: M.describe(info), width: W, height: H })
      : M.h("div", { class: "mmr-missing", style: `aspect-ratio:${W}/${H}` }, info.missing || "image not available");
    const stage = M.h("div", { class: "mmr-stage", onclick: () => view.select(handle) }, picture, svg, labels);
    return M.h("figure", { class: "mmr-figure", id: `mmr-artifact-${handle}`, dataset: { handle } },
      stage,
      overlays.length ? M.h("div", { class: "mmr-legend" }, overlays.map((o) => legend(o, view, stage))) : null,
      M.h("figcaption", null, M.chip(handle, view), " ", M.describe(info).replace(`${handle}: `, "")));
  };

  /** A video, playable, with a caption and its lineage (boxes and masks made for it are listed, not drawn). */
  M.videoFigure = function (handle, view) {
    const info = view.artifacts[handle];
    const [W, H] = info.shape;
    const clip = view.urls[handle]
      ? M.h("video", { src: view.urls[handle], controls: true, muted: true, preload: "metadata", width: W, height: H,
        "aria-label": M.describe(info) })
      : M.h("div", { class: "mmr-missing", style: `aspect-ratio:${W}/${H}` }, info.missing || "video not available");
    const stage = M.h("div", { class: "mmr-stage", onclick: () => view.select(handle) }, clip);
    const overlays = view.overlays[handle] || [];
    return M.h("figure", { class: "mmr-figure mmr-video", id: `mmr-artifact-${handle}`, dataset: { handle } },
      stage,
      overlays.length ? M.h("div", { class: "mmr-legend" }, "for this video: ", overlays.map((o) => [M.chip(o, view), " "])) : null,
      M.h("figcaption", null, M.chip(handle, view), " ", M.describe(info).replace(`${handle}: `, "")));
  };

  /** What an artifact holds, small: a mask thumbnail, a video, the boxes' items, or the text. */
  M.artifactPreview = function (handle, view) {
    const info = view.artifacts[handle];
    if (info.missing) return M.h("span", { class: "mmr-missing" }, info.missing);
    if (M.isPixels(info)) {
      return view.urls[handle] ? M.h("img", { class: `mmr-thumb mmr-thumb-${info.kind}`, src: view.urls[handle], alt: handle }) : null;
    }
    if (info.kind === "video") {
      return view.urls[handle] ? M.h("video", { class: "mmr-thumb", src: view.urls[handle], muted: true, preload: "metadata" }) : null;
    }
    const value = view.values[handle];
    if (info.kind === "text") return M.h("pre", { class: "mmr-text-artifact" }, typeof value === "string" ? value : JSON.stringify(value));
    if (!Array.isArray(value)) return null;
    return M.h("ol", { class: "mmr-items", start: 0 }, value.map((item) =>
      M.h("li", null, boxLabel(item) || "(no label)", " ", M.h("code", null, JSON.stringify(item.box)))));
  };

  /** Every artifact: handle, kind, size, producer, parents, and a preview of what it holds. */
  M.artifactTable = function (view) {
    const rows = Object.values(view.artifacts).map((info) => M.h("tr", { dataset: { handle: info.handle } },
      M.h("td", null, M.chip(info.handle, view)),
      M.h("td", null, info.kind),
      M.h("td", null, info.kind === "video" ? M.videoSize(info) : (info.shape || []).join(M.isPixels(info) ? "×" : " ")),
      M.h("td", null, info.producer === "input" ? "input" : [info.producer, " ", view.stepLink(info.producer_step)]),
      M.h("td", null, (info.parents || []).map((p) => [M.chip(p, view), " "])),
      M.h("td", { class: "mmr-preview" }, M.artifactPreview(info.handle, view))));
    return M.h("table", { class: "mmr-artifacts" },
      M.h("thead", null, M.h("tr", null, ["artifact", "kind", "size", "made by", "parents", "holds"].map((t) => M.h("th", null, t)))),
      M.h("tbody", null, rows));
  };
})(window.MMReactor = window.MMReactor || {});
