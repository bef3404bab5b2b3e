/* mm-reactor renderer, part 5: a whole run. MMReactor.render(container, result, options) draws a Result
   (the JSON of orchestrator.result.Result) into container: the task and answer, the images with their
   boxes and masks, the plan as a graph, every step, and the artifacts with their lineage. */
(function (M) {
  "use strict";
  M.version = "1";

  function isPlanStep(step) {
    return !step.tool && !step.error && /^plan accepted/.test(step.observation || "");
  }

  function section(title, id, ...content) {
    return M.h("section", { class: "mmr-section", id }, M.h("h2", null, title), content);
  }

  function block(label, content, className = "") {
    return M.h("div", { class: `mmr-block ${className}` }, M.h("div", { class: "mmr-label" }, label), content);
  }

  function observation(text, view) {
    try {
      const value = JSON.parse(text);
      if (value && typeof value === "object") return M.h("pre", { class: "mmr-json" }, M.jsonView(value, view));
    } catch (err) {
      /* not JSON: shown as text */
    }
    return M.h("pre", { class: "mmr-text" }, text);
  }

  function repairText(repair) {
    return typeof repair === "string" ? repair : JSON.stringify(repair);
  }

  /** One step of the trace: thought, tool, arguments, observation, timing, replica, error and repairs. */
  M.stepCard = function (step, view) {
    const kind = step.tool ? "call" : step.error ? "controller-error" : isPlanStep(step) ? "plan" : "answer";
    const name = step.tool || { "controller-error": "controller error", plan: "plan", answer: "final answer" }[kind];
    const failed = Boolean(step.error);
    const head = M.h("header", { class: "mmr-step-head" },
      M.h("span", { class: "mmr-step-no" }, `step ${step.index}`),
      M.h("span", { class: "mmr-tool" }, name),
      M.h("span", { class: "mmr-muted" }, `turn ${step.turn}`),
      step.seconds ? M.h("span", { class: "mmr-time" }, M.duration(step.seconds)) : null,
      step.replica ? M.h("span", { class: "mmr-replica", title: "the Serve replica that ran the call" }, step.replica) : null,
      failed ? M.h("span", { class: "mmr-badge mmr-bad" }, step.error_type || "error") : null);
    const repairs = step.repairs || [];
    return M.h("article", {
      class: `mmr-step mmr-step-${kind}${failed ? " mmr-failed" : ""}`,
      id: `mmr-step-${step.index}`,
      dataset: { stepIndex: String(step.index), tool: step.tool || "" },
    },
    head,
    step.thought ? M.h("p", { class: "mmr-thought" }, step.thought) : null,
    step.tool ? block("arguments", M.h("pre", { class: "mmr-json" }, M.jsonView(step.arguments || {}, view))) : null,
    step.new_handles && step.new_handles.length
      ? block("made", M.h("div", null, step.new_handles.map((hd) => [M.chip(hd, view), " "]))) : null,
    failed ? block("error", M.h("pre", { class: "mmr-error-text" }, step.error), "mmr-error") : null,
    repairs.length ? block("repairs", M.h("ul", { class: "mmr-repairs" }, repairs.map((r) => M.h("li", null, repairText(r)))), "mmr-repair") : null,
    step.observation && !(kind === "controller-error" && step.observation === step.error)
      ? block(kind === "answer" ? "answer" : "observation", observation(step.observation, view)) : null,
    step.traceback ? M.h("details", { class: "mmr-traceback" }, M.h("summary", null, "traceback"), M.h("pre", null, step.traceback)) : null);
  };

  /** One plan as a graph: a node per plan step (tool, status, outputs), an edge per dependency. */
  M.planGraph = function (plan, view) {
    const nodes = plan.map((p) => ({ id: p.id, p }));
    const edges = plan.flatMap((p) => (p.dependencies || []).map((d) => [d, p.id]));
    return M.drawDag(nodes, edges, (node, group) => {
      const { p } = node;
      const ran = (p.steps && p.steps.length ? p.steps : p.step === null || p.step === undefined ? [] : [p.step])
        .map((i) => view.steps[i]).filter(Boolean);
      const step = ran.length ? ran[0] : null;
      const failed = ran.filter((s) => s.error);
      const status = !step ? "not run" : failed.length ? "failed" : "ok";
      group.classList.add(`mmr-plan-${status.replace(" ", "-")}`);
      group.dataset.planStep = String(p.id);
      if (step) {
        group.setAttribute("tabindex", "0");
        group.addEventListener("click", () => view.showStep(step.index));
      }
      group.appendChild(M.svgText(`#${p.id} ${p.tool}`, { x: 10, y: 20, class: "mmr-node-title" }, 22));
      const handles = ran.flatMap((s) => s.new_handles);
      const made = handles.length ? ` → ${handles.length > 3 ? `${handles.length} artifacts` : handles.join(", ")}` : "";
      const where = p.map ? `map over ${p.map.join(", ")}: ${ran.length} calls` : step ? `step ${step.index}` : "";
      const detail = step ? `${where} · ${status}${made}` : p.map ? `${where} · ${status}` : status;
      group.appendChild(M.svgText(detail, { x: 10, y: 38, class: "mmr-node-sub" }, 28));
      group.appendChild(M.s("title", null, `${p.tool} ${JSON.stringify(p.arguments)}${failed.length ? `\n${failed[0].error}` : ""}`));
    }, { className: "mmr-plan-graph", label: "plan", nodeWidth: 200, nodeHeight: 48 });
  };

  function header(result, view) {
    const replay = result.replay ? M.h("span", { class: "mmr-badge mmr-warn", title: "the controller's replies were scripted, not generated" }, "REPLAY") : null;
    const facts = [
      ["controller", [result.controller, " ", replay]],
      ["route", result.route],
      ["steps", String(result.steps.length)],
      ["time", M.duration(result.seconds)],
      ["session", result.session],
      ["run", result.run_id],
    ];
    const outcome = result.status === "answered"
      ? M.h("div", { class: "mmr-outcome mmr-answer" }, M.h("div", { class: "mmr-label" }, "answer"), M.h("p", null, result.answer || ""))
      : M.h("div", { class: `mmr-outcome mmr-${result.status}` }, M.h("div", { class: "mmr-label" }, result.status),
        M.h("p", null, result.failure || (result.status === "pending" ? "waiting for a person to approve the calls below" : "")));
    const notes = [
      result.approval && result.approval.length ? block("waiting for approval", M.h("ul", null, result.approval.map((c) =>
        M.h("li", null, M.h("b", null, c.tool), " ", M.h("pre", { class: "mmr-json" }, M.jsonView(c.arguments, view)))))) : null,
      result.plan_repairs && result.plan_repairs.length ? block("plan repairs", M.h("ul", { class: "mmr-repairs" }, result.plan_repairs.map((r) => M.h("li", null, repairText(r)))), "mmr-repair") : null,
      result.interrupted_runs && result.interrupted_runs.length ? block("interrupted earlier runs", M.h("p", null, result.interrupted_runs.join(", "))) : null,
    ];
    return M.h("header", { class: "mmr-head" },
      M.h("div", { class: "mmr-kicker" }, "mm-reactor run ", M.h("span", { class: `mmr-badge mmr-status-${result.status}` }, result.status)),
      M.h("h1", { class: "mmr-task" }, result.task),
      M.h("dl", { class: "mmr-meta" }, facts.filter(([, v]) => v).map(([k, v]) => M.h("div", null, M.h("dt", null, k), M.h("dd", null, v)))),
      outcome, notes);
  }

  function page(view) {
    const { result, artifacts } = view;
    const images = Object.values(artifacts).filter((a) => a.kind !== "mask" && M.isMedia(a)).map((a) => a.handle);
    const plans = result.plans || [];
    return [
      header(result, view),
      images.length ? section("Images", "mmr-images", M.h("p", { class: "mmr-muted" },
        "Every input and output image (and video), with the boxes and masks made from it drawn on top. Click a handle for its lineage."),
      M.h("div", { class: "mmr-gallery" }, images.map((hd) =>
        artifacts[hd].kind === "video" ? M.videoFigure(hd, view) : M.imageFigure(hd, view)))) : null,
      plans.length ? section("Plan", "mmr-plan", plans.map((plan, i) => M.h("figure", { class: "mmr-plan", dataset: { plan: String(i) } },
        M.h("div", { class: "mmr-scroll" }, M.planGraph(plan, view)),
        M.h("figcaption", { class: "mmr-muted" }, plans.length > 1 ? `plan ${i + 1} of ${plans.length}${i ? " (a re-plan)" : ""}: ` : "",
          `${plan.length} steps; arrows run from a step to the steps that use its output`)))) : null,
      section("Steps", "mmr-steps", result.steps.length ? result.steps.map((s) => M.stepCard(s, view)) : M.h("p", { class: "mmr-muted" }, "no steps")),
      Object.keys(artifacts).length ? section("Artifacts and lineage", "mmr-lineage",
        M.h("div", { class: "mmr-scroll" }, M.lineageGraph(view)), M.artifactTable(view)) : null,
      view.inspector,
    ];
  }

  async function loadArtifacts(result, options) {
    const imageUrl = options.imageUrl || ((info) => info.url);
    const loadData = options.loadData || (async (info) => {
      const response = await fetch(info.url);
      if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
      return response.json();
    });
    const artifacts = {};
    const urls = {};
    const values = {};
    await Promise.all(Object.entries(result.artifacts || {}).map(async ([handle, original]) => {
      const info = (artifacts[handle] = { ...original, handle });
      if (info.missing) return;
      try {
        if (M.isMedia(info)) urls[handle] = await imageUrl(info);
        else values[handle] = "value" in info ? info.value : await loadData(info);
      } catch (err) {
        info.missing = `could not load ${handle}: ${err.message}`;
      }
    }));
    return { artifacts, urls, values };
  }

  /** The state every part draws from: the result, loaded artifacts, colours, and selection. */
  M.createView = async function (container, result, options = {}) {
    const loaded = await loadArtifacts(result, options);
    const view = {
      container, result, options, ...loaded, ...M.overlayIndex(loaded.artifacts),
      steps: Object.fromEntries(result.steps.map((s) => [s.index, s])),
      inspector: M.h("aside", { class: "mmr-inspector", hidden: true, "aria-live": "polite" }),
    };
    view.stepLink = (index) => M.h("a", { class: "mmr-steplink", href: `#mmr-step-${index}`,
      onclick: (e) => { e.preventDefault(); view.showStep(index); } }, `step ${index}`);
    view.showStep = (index) => {
      const card = container.querySelector(`#mmr-step-${index}`);
      if (!card) return;
      container.querySelectorAll(".mmr-step.mmr-selected").forEach((n) => n.classList.remove("mmr-selected"));
      card.classList.add("mmr-selected");
      card.scrollIntoView({ behavior: "smooth", block: "center" });
    };
    view.select = (handle) => {
      M.highlightLineage(container, handle, view.artifacts);
      container.querySelectorAll(".mmr-figure").forEach((f) => f.classList.toggle("mmr-selected", f.dataset.handle === handle));
      const close = M.h("button", { type: "button", class: "mmr-close", "aria-label": "close",
        onclick: () => { view.inspector.hidden = true; M.highlightLineage(container, null, view.artifacts); } }, "×");
      view.inspector.replaceChildren(close, ...M.inspect(handle, view).filter(Boolean));
      view.inspector.hidden = false;
      if (options.onSelect) options.onSelect(handle);
    };
    return view;
  };

  /**
   * Draw a Result into container (replacing what was there); resolves with the view when every artifact
   * is loaded and drawn. container.dataset.mmrState is "loading", then "ready" (or "error").
   * options.imageUrl(info) -> url | Promise<url> for images, masks and videos (default: info.url);
   * options.loadData(info) -> Promise<value> for boxes and text without an inline info.value
   * (default: fetch(info.url) as JSON); options.onSelect(handle) is told when an artifact is selected.
   */
  M.render = async function (container, result, options = {}) {
    container.classList.add("mmr");
    container.dataset.mmrState = "loading";
    try {
      const view = await M.createView(container, result, options);
      container.replaceChildren(...page(view).filter(Boolean));
      container.dataset.mmrState = "ready";
      return view;
    } catch (err) {
      container.dataset.mmrState = "error";
      container.replaceChildren(M.h("p", { class: "mmr-outcome mmr-failed" }, `This run could not be drawn: ${err.message}`));
      throw err;
    }
  };
})(window.MMReactor = window.MMReactor || {});
