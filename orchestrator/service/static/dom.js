/* mm-reactor renderer, part 1: DOM helpers and formatting shared by the report and the web page.
   Every piece of run data enters the page as text (textContent / attributes), never as HTML. */
(function (M) {
  "use strict";
  const SVG_NS = "http://www.w3.org/2000/svg";
  // Kinds shown as pictures: images, masks and the condition maps of experts/maps.py (MAP_KINDS).
  const PIXEL_KINDS = new Set(["image", "mask", "depth", "normal", "pose", "hed", "mlsd", "scribble"]);

  /** Whether an artifact is pixels (an image, a mask or a condition map) rather than data. */
  M.isPixels = (info) => PIXEL_KINDS.has(info.kind);

  /** A video's size: frame size, frame count and duration (its shape is [width, height, frames, ms]). */
  M.videoSize = function (info) {
    const [w, h, frames, ms] = info.shape || [];
    return `${w}×${h}, ${frames} frames, ${(Number(ms) / 1000).toFixed(1)} s`;
  };

  /** Whether an artifact is shown from its URL (pixels, or a video's file) rather than loaded as data. */
  M.isMedia = (info) => M.isPixels(info) || info.kind === "video";

  function append(node, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function setAttrs(node, attrs) {
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.setAttribute("class", value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    return node;
  }

  /** An HTML element: h("div", {class: "x"}, "text", child, [more]). */
  M.h = (tag, attrs, ...children) => append(setAttrs(document.createElement(tag), attrs), children);
  /** An SVG element, same signature as h. */
  M.s = (tag, attrs, ...children) => append(setAttrs(document.createElementNS(SVG_NS, tag), attrs), children);

  /** "850 ms", "1.25 s", "2 min 5 s". */
  M.duration = function (seconds) {
    if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "";
    if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
    if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
    return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  };

  /** A JSON value drawn with indentation; strings naming a known artifact become chips. */
  M.jsonView = function (value, view, indent = 0) {
    const pad = "  ".repeat(indent + 1);
    const close = "  ".repeat(indent);
    if (typeof value === "string") {
      return view && view.artifacts[value] ? M.chip(value, view) : M.h("span", { class: "mmr-j-str" }, JSON.stringify(value));
    }
    if (value === null || typeof value !== "object") return M.h("span", { class: "mmr-j-lit" }, JSON.stringify(value));
    const isArray = Array.isArray(value);
    const entries = isArray ? value.map((v, i) => [i, v]) : Object.entries(value);
    if (!entries.length) return isArray ? "[]" : "{}";
    if (JSON.stringify(value).length <= 76) {  // short values (a box, {"image": "image-1"}) stay on one line
      return M.h("span", null, isArray ? "[" : "{", entries.map(([k, v], i) => [
        i ? ", " : "",
        isArray ? null : [M.h("span", { class: "mmr-j-key" }, JSON.stringify(k)), ": "],
        M.jsonView(v, view, indent + 1),
      ]), isArray ? "]" : "}");
    }
    return M.h("span", null, isArray ? "[" : "{", entries.map(([k, v], i) => [
      "\n" + pad,
      isArray ? null : [M.h("span", { class: "mmr-j-key" }, JSON.stringify(k)), ": "],
      M.jsonView(v, view, indent + 1),
      i < entries.length - 1 ? "," : "",
    ]), "\n" + close, isArray ? "]" : "}");
  };

  /** A clickable artifact handle; hovering tells its lineage, clicking selects it. */
  M.chip = function (handle, view) {
    const info = view.artifacts[handle];
    return M.h("button", {
      type: "button",
      class: `mmr-chip mmr-kind-${info ? info.kind : "unknown"}`,
      title: info ? M.describe(info) : "not in this result",
      dataset: { handle },
      onclick: (event) => { event.stopPropagation(); view.select(handle); },
    }, handle);
  };

  /** One line about an artifact: kind, size, and where it came from. */
  M.describe = function (info) {
    const [a, b] = info.shape || [];
    const size = M.isPixels(info) ? `${a}×${b}`
      : info.kind === "video" ? M.videoSize(info) : `${a} ${info.kind === "boxes" ? "items" : "chars"}`;
    if (info.producer === "input") return `${info.handle}: input ${info.kind}, ${size}`;
    const parents = info.parents && info.parents.length ? ` of ${info.parents.join(", ")}` : "";
    return `${info.handle}: ${info.kind} ${size}, from ${info.producer} (step ${info.producer_step})${parents}`;
  };
})(window.MMReactor = window.MMReactor || {});
