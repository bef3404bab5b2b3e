/* mm-reactor web page, part 2: submit tasks, watch their steps stream in, draw their Results with the
   shared renderer, approve or deny pending calls, and browse a key's sessions and earlier tasks.
   Everything from the server enters the page as text, never as HTML. */
(function (A, M) {
  "use strict";
  const KEY = "mmr-api-key";
  const $ = (id) => document.getElementById(id);
  const state = { task: null, lastEventId: null, controller: null, blobs: new Map(), live: [] };

  function key() { return sessionStorage.getItem(KEY) || ""; }
  function auth() { return { Authorization: `Bearer ${key()}` }; }

  function notice(text) {
    $("notice").textContent = text || "";
    $("notice").hidden = !text;
  }

  async function api(path, options = {}) {
    const response = await fetch(path, { ...options, headers: { ...auth(), ...(options.headers || {}) } });
    let body = null;
    try { body = await response.json(); } catch (err) { /* no JSON body */ }
    if (!response.ok) throw new Error((body && body.error) || `${response.status} ${response.statusText}`);
    return { status: response.status, body };
  }

  async function imageUrl(info) {
    if (!state.blobs.has(info.url)) {
      const response = await fetch(info.url, { headers: auth() });
      if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
      state.blobs.set(info.url, URL.createObjectURL(await response.blob()));
    }
    return state.blobs.get(info.url);
  }

  async function loadData(info) {
    const response = await fetch(info.url, { headers: auth() });
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    return response.json();
  }

  // -- the live run ------------------------------------------------------------------------------------
  function setStatus(status) {
    const badge = $("live-status");
    badge.textContent = status;
    badge.className = `mmr-badge mmr-status-${status}`;
    $("cancel").hidden = !["queued", "running"].includes(status);
  }

  function liveItem(kind, ...content) {
    const item = M.h("li", { class: `app-step app-${kind}` }, content);
    $("live-steps").appendChild(item);
    return item;
  }

  function toolEnd(item, event) {
    item.classList.add(event.error ? "app-failed" : "app-done");
    item.querySelector(".app-when").textContent = M.duration(event.seconds);
    item.appendChild(M.h("div", { class: "app-meta" },
      event.replica ? M.h("span", { class: "mmr-replica" }, event.replica) : null,
      event.error ? M.h("span", { class: "app-error" }, `${event.error_type || "error"}: ${event.error}`)
        : event.new_handles.length ? `→ ${event.new_handles.join(", ")}` : "ok"));
  }

  function showEvent(event) {
    if (event.type === "start") {
      liveItem("start", event.resumed ? "continued" : "started", ` · session ${event.session}`,
        event.inputs.length ? ` · inputs ${event.inputs.join(", ")}` : "");
      setStatus("running");
    } else if (event.type === "thought") {
      liveItem("thought", M.h("span", { class: "app-label" }, `turn ${event.turn}`), " ", event.text);
    } else if (event.type === "plan") {
      liveItem("thought", M.h("span", { class: "app-label" }, "plan"), ` ${event.steps.length} steps`);
    } else if (event.type === "tool_start") {
      const item = liveItem("tool", M.h("span", { class: "mmr-tool" }, event.tool), " ",
        M.h("code", null, JSON.stringify(event.arguments)), " ", M.h("span", { class: "app-when" }, "running…"));
      item.dataset.tool = event.tool;
      state.live.push({ tool: event.tool, item });
    } else if (event.type === "tool_end") {
      const index = state.live.findIndex((entry) => entry.tool === event.tool);
      const entry = index >= 0 ? state.live.splice(index, 1)[0] : { item: liveItem("tool", event.tool, " ", M.h("span", { class: "app-when" })) };
      toolEnd(entry.item, event);
    } else if (event.type === "approval") {
      liveItem("approval", "waiting for approval");
    } else if (event.type === "answer") {
      liveItem("answer", M.h("span", { class: "app-label" }, "answer"), " ", event.text);
    } else if (event.type === "error") {
      liveItem(event.fatal ? "fatal" : "warning", event.message);
    }
  }

  function showApproval(result) {
    const pending = result.status === "pending";
    $("approval").hidden = !pending;
    if (pending) $("approval-calls").textContent = result.approval.map((c) => `${c.tool} ${JSON.stringify(c.arguments)}`).join("; ");
  }

  async function showResult(result) {
    setStatus(result.status);
    showApproval(result);
    await M.render($("mmr-root"), result, { imageUrl, loadData });
  }

  async function follow(taskId, lastEventId) {
    if (state.controller) state.controller.abort();
    const controller = (state.controller = new AbortController());
    state.task = taskId;
    let result = null;
    try {
      state.lastEventId = await A.followEvents(`/v1/tasks/${taskId}/events`, {
        headers: auth(), lastEventId, signal: controller.signal,
        onEvent: (message) => {
          const event = JSON.parse(message.data);
          showEvent(event);
          if (event.type === "end") result = event.result;
        },
      });
    } catch (err) {
      if (!controller.signal.aborted) notice(`lost the task's events: ${err.message}`);
      return;
    }
    if (result) await showResult(result);
    loadSessions();
    loadSession($("session").value);
  }

  function startLive(taskId, text) {
    state.live = [];
    $("live").hidden = false;
    $("live-steps").replaceChildren();
    $("live-task").textContent = text || "";
    $("approval").hidden = true;
    $("mmr-root").replaceChildren();
    $("mmr-root").dataset.mmrState = "empty";
    setStatus("queued");
    state.task = taskId;
  }

  // -- forms -------------------------------------------------------------------------------------------
  async function submitTask(event) {
    event.preventDefault();
    notice("");
    const form = new FormData();
    form.append("task", $("task").value);
    for (const file of $("images").files) form.append("images", file, file.name);
    for (const file of $("videos").files) form.append("videos", file, file.name);
    if ($("session").value.trim()) form.append("session", $("session").value.trim());
    if ($("max-steps").value) form.append("max_steps", $("max-steps").value);
    $("submit").disabled = true;
    try {
      const { body } = await api("/v1/tasks", { method: "POST", body: form });
      $("session").value = body.session;
      startLive(body.task_id, $("task").value);
      await follow(body.task_id, null);
    } catch (err) {
      notice(err.message);
    } finally {
      $("submit").disabled = false;
    }
  }

  async function decide(approved) {
    notice("");
    try {
      const reason = $("approval-reason").value.trim() || null;
      await api(`/v1/tasks/${state.task}/${approved ? "approve" : "deny"}`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ reason }),
      });
      $("approval").hidden = true;
      setStatus("queued");
      await follow(state.task, state.lastEventId);
    } catch (err) {
      notice(err.message);
    }
  }

  // -- sessions ----------------------------------------------------------------------------------------
  function listItem(label, detail, onclick, data) {
    return M.h("li", { dataset: data }, M.h("button", { type: "button", class: "app-link", onclick }, label),
      M.h("span", { class: "app-muted" }, ` ${detail}`));
  }

  async function loadSessions() {
    if (!key()) return;
    try {
      const { body } = await api("/v1/sessions");
      $("session-list").replaceChildren(...body.sessions.map((s) => listItem(s.session, `${s.tasks} tasks`,
        () => { $("session").value = s.session; loadSession(s.session); }, { session: s.session })));
    } catch (err) {
      notice(err.message);
    }
  }

  async function loadSession(session) {
    if (!session || !key()) return;
    try {
      const { body } = await api(`/v1/sessions/${encodeURIComponent(session)}`);
      $("session-title").hidden = false;
      $("session-title").textContent = `Tasks of ${session}`;
      $("task-list").replaceChildren(...body.tasks.slice().reverse().map((t) => listItem(t.task, t.status,
        () => openTask(t.task_id, t.task), { taskId: t.task_id })));
    } catch (err) {
      notice(err.message);
    }
  }

  async function openTask(taskId, text) {
    notice("");
    startLive(taskId, text);
    try {
      const { status, body } = await api(`/v1/tasks/${taskId}`);
      if (status === 200) {
        $("live-steps").replaceChildren(M.h("li", { class: "app-step app-start" }, "an earlier task"));
        await showResult(body);
      } else {
        await follow(taskId, null);
      }
    } catch (err) {
      notice(err.message);
    }
  }

  function useKey(event) {
    if (event) event.preventDefault();
    const value = $("api-key").value.trim();
    if (value) sessionStorage.setItem(KEY, value);
    $("api-key").value = "";
    $("key-state").textContent = key() ? "key set for this tab" : "no key yet";
    loadSessions();
  }

  $("key-form").addEventListener("submit", useKey);
  $("task-form").addEventListener("submit", submitTask);
  $("approve").addEventListener("click", () => decide(true));
  $("deny").addEventListener("click", () => decide(false));
  $("cancel").addEventListener("click", () => api(`/v1/tasks/${state.task}/cancel`, { method: "POST" }).catch((err) => notice(err.message)));
  $("new-session").addEventListener("click", () => { $("session").value = ""; $("task-list").replaceChildren(); $("session-title").hidden = true; });
  $("refresh-sessions").addEventListener("click", loadSessions);
  useKey();
})(window.MMApp = window.MMApp || {}, window.MMReactor);
