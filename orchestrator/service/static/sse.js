/* mm-reactor web page, part 1: Server-Sent Events over fetch (EventSource cannot send an Authorization
   header). MMApp.followEvents(url, {headers, lastEventId, onEvent, signal}) reads the stream, calls
   onEvent({id, event, data}) per event, reconnects with Last-Event-ID when the connection drops, and
   resolves with the last event id when the server ends the stream. */
(function (A) {
  "use strict";

  function parseBlock(block) {
    const message = { id: null, event: "message", data: [] };
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "data") message.data.push(value);
      else if (field === "event") message.event = value;
      else if (field === "id") message.id = value;
    }
    return message.data.length ? { ...message, data: message.data.join("\n") } : null;
  }

  async function readOnce(url, options, state) {
    const headers = { ...(options.headers || {}), Accept: "text/event-stream" };
    if (state.lastEventId) headers["Last-Event-ID"] = state.lastEventId;
    const response = await fetch(url, { headers, signal: options.signal, cache: "no-store" });
    if (!response.ok) {
      let detail = `${response.status} ${response.statusText}`;
      try { detail = (await response.json()).error || detail; } catch (err) { /* not JSON */ }
      const error = new Error(detail);
      error.status = response.status;
      throw error;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const message = parseBlock(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (!message) continue;
        if (message.id !== null) state.lastEventId = message.id;
        options.onEvent(message);
      }
    }
  }

  A.followEvents = async function (url, options) {
    const state = { lastEventId: options.lastEventId || null };
    for (let attempt = 0; ; attempt += 1) {
      try {
        await readOnce(url, options, state);
        return state.lastEventId;
      } catch (err) {
        if (options.signal && options.signal.aborted) throw err;
        if (err.status || attempt >= 5) throw err;  // an HTTP answer is final; a dropped connection is retried
        await new Promise((resolve) => setTimeout(resolve, 500 * (attempt + 1)));
      }
    }
  };
})(window.MMApp = window.MMApp || {});
