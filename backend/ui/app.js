// malina's rack page: polls the admin API every second with the operator's token and updates the cards in place.
// Everything a machine or the backend says goes into the page as text (textContent, never innerHTML): a board's
// name, a flag reason or an installer's error can hold anything.
"use strict";

(() => {
  const READ_KEY = "malina.readToken";
  const WRITE_KEY = "malina.writeToken";
  const POLL_MS = 1000;
  const HISTORY_EVERY = 5; // polls between refreshes of an open history
  const ARM_MS = 5000; // an action button asks for a second click within this time
  const INSTALLING = new Set(["pending", "netbooting", "writing", "verifying"]);

  const cards = new Map(); // machine name → its card's elements
  let timer = null;
  let polls = 0;

  const $ = (id) => document.getElementById(id);

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // What a flag is about, as backend/metrics.py's flag_kind decides it from the reason.
  function flagKind(reason) {
    const text = (reason || "").toLowerCase();
    if (text.startsWith("loop guard")) return "loop";
    if (text.includes("attempt cap") || text.includes("install attempts failed")) return "attempts";
    if (text.includes("interruption cap")) return "interruptions";
    return "identity";
  }

  function bytes(n) {
    if (n === null || n === undefined) return "?";
    const units = ["B", "kB", "MB", "GB", "TB"];
    let value = n;
    let unit = 0;
    while (value >= 1000 && unit < units.length - 1) {
      value /= 1000;
      unit += 1;
    }
    return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
  }

  function duration(seconds) {
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
    return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  }

  function when(epochSeconds) {
    return epochSeconds ? new Date(epochSeconds * 1000).toLocaleString() : "";
  }

  function auth(token) {
    return { Authorization: `Bearer ${token}` };
  }

  function setStatus(text, bad) {
    const status = $("status");
    status.textContent = text;
    status.classList.toggle("error", Boolean(bad));
  }

  // -- signing in and out --------------------------------------------------------------------------------------
  function showLogin(message) {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    for (const card of cards.values()) card.root.remove();
    cards.clear();
    $("machines").hidden = true;
    $("signout").hidden = true;
    $("summary").textContent = "";
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    setStatus("");
  }

  function signOut(message) {
    sessionStorage.removeItem(READ_KEY);
    sessionStorage.removeItem(WRITE_KEY);
    showLogin(message);
  }

  function signIn(event) {
    event.preventDefault();
    const read = $("read-token").value.trim();
    const write = $("write-token").value.trim();
    $("read-token").value = "";
    $("write-token").value = "";
    sessionStorage.setItem(READ_KEY, read);
    if (write) sessionStorage.setItem(WRITE_KEY, write);
    else sessionStorage.removeItem(WRITE_KEY);
    start();
  }

  function start() {
    $("login").hidden = true;
    $("machines").hidden = false;
    $("signout").hidden = false;
    poll();
  }

  // -- the poll ------------------------------------------------------------------------------------------------
  async function poll() {
    timer = null;
    const token = sessionStorage.getItem(READ_KEY);
    if (!token) {
      showLogin();
      return;
    }
    try {
      const resp = await fetch("/v1/admin/machines", { headers: auth(token), cache: "no-store" });
      if (resp.status === 401 || resp.status === 403) {
        signOut(`The backend refused the token (HTTP ${resp.status}).`);
        return;
      }
      if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
      const body = await resp.json();
      render(body.machines);
      polls += 1;
      setStatus(`updated ${new Date().toLocaleTimeString()}`);
    } catch (err) {
      setStatus(`backend unreachable: ${err.message}`, true);
    }
    if (sessionStorage.getItem(READ_KEY)) timer = setTimeout(poll, POLL_MS);
  }

  function render(machines) {
    const seen = new Set();
    const list = $("machines");
    let installing = 0;
    let flagged = 0;
    for (const machine of machines) {
      seen.add(machine.name);
      let card = cards.get(machine.name);
      if (!card) {
        card = makeCard(machine.name);
        cards.set(machine.name, card);
      }
      list.append(card.root); // keeps the API's order (by name); moving a node keeps its state
      update(card, machine);
      const state = machine.last_attempt ? machine.last_attempt.state : null;
      if (INSTALLING.has(state) && machine.boot_mode === "install") installing += 1;
      if (machine.flagged) flagged += 1;
    }
    for (const [name, card] of cards) {
      if (!seen.has(name)) {
        card.root.remove();
        cards.delete(name);
      }
    }
    $("summary").textContent =
      `${machines.length} machines · ${installing} installing · ${flagged} flagged`;
  }

  // -- one machine's card --------------------------------------------------------------------------------------
  function makeCard(name) {
    const root = el("article", "machine");
    root.dataset.machine = name;
    const head = el("div", "head");
    const badges = el("div", "badges");
    const card = {
      root,
      name,
      mode: el("span", "badge mode"),
      state: el("span", "badge state"),
      flag: el("span", "badge flag"),
      facts: el("p", "facts"),
      reason: el("p", "reason"),
      progress: el("div", "progress"),
      bar: el("div", "bar"),
      fill: el("div", "fill"),
      progressText: el("p", "progress-text"),
      error: el("p", "error attempt-error"),
      result: el("p", "action-result"),
      history: el("ol", "history"),
      historyButton: el("button", "history-toggle", "History"),
    };
    badges.append(card.mode, card.state, card.flag);
    head.append(el("h2", "name", name), badges);
    card.bar.setAttribute("role", "progressbar");
    card.bar.setAttribute("aria-valuemin", "0");
    card.bar.setAttribute("aria-valuemax", "100");
    card.bar.append(card.fill);
    card.progress.append(card.bar, card.progressText);
    card.result.setAttribute("role", "status");
    const actions = el("div", "actions");
    actions.append(actionButton(card, "reinstall", "Reinstall"), actionButton(card, "set-local", "Set local"),
      card.historyButton);
    card.historyButton.type = "button";
    card.historyButton.addEventListener("click", () => toggleHistory(card));
    card.history.hidden = true;
    root.append(head, card.facts, card.reason, card.progress, card.error, actions, card.result, card.history);
    return card;
  }

  function update(card, machine) {
    const attempt = machine.last_attempt;
    const state = attempt ? attempt.state : "none";
    card.root.dataset.state = state;
    card.root.dataset.bootMode = machine.boot_mode;
    card.mode.textContent = machine.boot_mode;
    card.mode.dataset.value = machine.boot_mode;
    card.state.textContent = state;
    card.state.dataset.value = state;
    const kind = machine.flagged ? flagKind(machine.flag_reason) : "";
    card.root.dataset.flag = kind;
    card.flag.hidden = !machine.flagged;
    card.flag.textContent = machine.flagged ? `flagged: ${kind}` : "";
    card.reason.hidden = !machine.flagged;
    card.reason.textContent = machine.flagged ? machine.flag_reason || "" : "";
    const facts = [
      attempt ? `attempt ${attempt.number}` : "no attempt yet",
      `${machine.attempts} since the last reinstall`,
      machine.mac ? `MAC ${machine.mac}` : "MAC unknown",
      machine.serial ? `serial ${machine.serial}` : "serial unknown",
    ];
    if (attempt) facts.push(`last report ${when(attempt.updated_at)}`);
    card.facts.textContent = facts.join(" · ");
    card.error.hidden = !(attempt && attempt.error);
    card.error.textContent = attempt && attempt.error ? attempt.error : "";
    updateProgress(card, machine, attempt);
    if (!card.history.hidden && polls % HISTORY_EVERY === 0) loadHistory(card);
  }

  function updateProgress(card, machine, attempt) {
    const live = Boolean(attempt) && INSTALLING.has(attempt.state) && machine.boot_mode === "install";
    card.progress.hidden = !live;
    if (!live) return;
    const written = attempt.bytes_written || 0;
    const total = attempt.bytes_total || 0;
    const rate = attempt.rate_bps || 0;
    const percent = total > 0 ? Math.min(100, (100 * written) / total) : 0;
    card.fill.style.width = `${percent.toFixed(1)}%`;
    card.bar.setAttribute("aria-valuenow", percent.toFixed(1));
    card.progress.dataset.bytesWritten = String(written);
    card.progress.dataset.bytesTotal = String(total);
    if (total === 0) {
      card.progressText.textContent = `${attempt.state}: waiting for the installer's first report`;
      return;
    }
    const parts = [`${attempt.state}: ${bytes(written)} of ${bytes(total)} (${percent.toFixed(0)} %)`];
    if (rate > 0) {
      parts.push(`${bytes(rate)}/s`);
      if (total > written) parts.push(`ETA ${duration((total - written) / rate)}`);
    }
    card.progressText.textContent = parts.join(" · ");
  }

  // -- actions (write token) -----------------------------------------------------------------------------------
  function actionButton(card, action, label) {
    const button = el("button", `action ${action}`, label);
    button.type = "button";
    button.dataset.action = action;
    let armed = null;
    button.addEventListener("click", () => {
      if (armed === null) {
        // the first click arms the button: a stray tap on a phone changes nothing
        button.textContent = `Confirm ${label.toLowerCase()}`;
        button.classList.add("armed");
        armed = setTimeout(() => {
          armed = null;
          button.textContent = label;
          button.classList.remove("armed");
        }, ARM_MS);
        return;
      }
      clearTimeout(armed);
      armed = null;
      button.textContent = label;
      button.classList.remove("armed");
      act(card, action);
    });
    return button;
  }

  async function act(card, action) {
    const token = sessionStorage.getItem(WRITE_KEY);
    if (!token) {
      card.result.textContent = `${action} needs the write token: sign out and sign in with it.`;
      card.result.classList.add("error");
      return;
    }
    card.result.classList.remove("error");
    card.result.textContent = `${action}: sent…`;
    try {
      const resp = await fetch(`/v1/admin/machines/${encodeURIComponent(card.name)}/${action}`,
        { method: "POST", headers: auth(token), cache: "no-store" });
      const body = await resp.json().catch(() => ({}));
      if (!resp.ok) {
        const detail = typeof body.detail === "string" ? body.detail : `HTTP ${resp.status}`;
        card.result.textContent = `${action} refused: ${detail}`;
        card.result.classList.add("error");
        if (resp.status === 401 || resp.status === 403) sessionStorage.removeItem(WRITE_KEY);
        return;
      }
      card.result.textContent = `${action}: done (Kea cache flush: ${body.kea_flush})`;
      if (!card.history.hidden) loadHistory(card);
    } catch (err) {
      card.result.textContent = `${action} failed: ${err.message}`;
      card.result.classList.add("error");
    }
  }

  // -- history -------------------------------------------------------------------------------------------------
  function toggleHistory(card) {
    card.history.hidden = !card.history.hidden;
    card.historyButton.textContent = card.history.hidden ? "History" : "Hide history";
    if (!card.history.hidden) loadHistory(card);
  }

  async function loadHistory(card) {
    const token = sessionStorage.getItem(READ_KEY);
    if (!token) return;
    try {
      const resp = await fetch(`/v1/admin/machines/${encodeURIComponent(card.name)}/history?limit=50`,
        { headers: auth(token), cache: "no-store" });
      if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
      const body = await resp.json();
      const items = body.events.slice().reverse().map((event) => {
        const item = el("li", `event kind-${event.kind.replace(/[^a-z0-9-]/gi, "")}`);
        item.append(el("time", "", when(event.at)), el("span", "kind", event.kind),
          el("span", "message", event.message));
        return item;
      });
      card.history.replaceChildren(...items);
    } catch (err) {
      card.history.replaceChildren(el("li", "error", `history unavailable: ${err.message}`));
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login").addEventListener("submit", signIn);
    $("signout").addEventListener("click", () => signOut());
    if (sessionStorage.getItem(READ_KEY)) start();
    else showLogin();
  });
})();
