// Consentry privacy console: a thin client of the admin API (/admin/v1/...).
// Every piece of API data reaches the page through textContent or SVG attributes, never
// through innerHTML, so a customer id or an actor name can never become markup.
"use strict";

(() => {
  const TOKEN_KEY = "consentry.admin.token";
  const CUSTOMER_ID = /^[A-Za-z0-9._:-]{1,128}$/;
  const ACTION_WORDS = {
    restrict: "Restrict processing for",
    object: "Record an objection for",
    withdraw: "Withdraw consent for",
    reactivate: "Reactivate consent for",
  };
  const SVG_NS = "http://www.w3.org/2000/svg";
  const PALETTE = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d", "#dc2626"];

  // The API lives next to this script (…/admin/console.js → …/admin/v1/), so the console keeps
  // working when the admin listener is mounted behind a path prefix.
  const scriptUrl = document.currentScript ? document.currentScript.src : window.location.href;
  const API = new URL("v1/", scriptUrl);

  const $ = (id) => document.getElementById(id);

  const state = { role: null, customer: null, confirmResolve: null };

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  // ---- messages --------------------------------------------------------------------------

  function showMessage(text, kind) {
    const box = $("message");
    box.textContent = text;
    box.dataset.kind = kind;
    box.className = "message " + kind;
    box.hidden = false;
  }

  function clearMessage() {
    const box = $("message");
    box.textContent = "";
    box.hidden = true;
    delete box.dataset.kind;
  }

  function showError(err) {
    if (err instanceof ApiError) {
      showMessage(`Error ${err.status} (${err.code}): ${err.message}`, "error");
    } else {
      showMessage(`Error: ${err && err.message ? err.message : String(err)}`, "error");
    }
  }

  // ---- API -------------------------------------------------------------------------------

  function token() {
    return window.sessionStorage.getItem(TOKEN_KEY);
  }

  function apiUrl(path, params) {
    const url = new URL(path, API);
    for (const [key, value] of Object.entries(params || {})) {
      if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, value);
    }
    return url;
  }

  async function errorFrom(response) {
    let code = "http_" + response.status;
    let message = response.statusText || "request failed";
    try {
      const body = await response.json();
      if (body && body.error) {
        code = String(body.error.code || code);
        message = String(body.error.message || message);
      }
    } catch (_) {
      // not JSON: keep the status line
    }
    return new ApiError(response.status, code, message);
  }

  async function request(method, path, { params, body, tokenOverride } = {}) {
    const headers = { Accept: "application/json" };
    const bearer = tokenOverride || token();
    if (bearer) headers.Authorization = "Bearer " + bearer;
    const init = { method, headers, cache: "no-store", credentials: "omit" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(apiUrl(path, params), init);
    } catch (err) {
      throw new ApiError(0, "network_error", "the admin API could not be reached");
    }
    if (!response.ok) {
      const err = await errorFrom(response);
      // an expired or revoked token: back to the sign-in form, keeping the error visible
      if (response.status === 401 && !tokenOverride) signOut(false);
      throw err;
    }
    return response;
  }

  async function getJson(path, params) {
    return (await request("GET", path, { params })).json();
  }

  async function postJson(path, body) {
    return (await request("POST", path, { body })).json();
  }

  function customerPath(id, rest) {
    return "customers/" + encodeURIComponent(id) + rest;
  }

  // ---- small DOM helpers -----------------------------------------------------------------

  function el(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function row(cells, attrs) {
    const tr = el("tr", null, attrs);
    for (const cell of cells) {
      const td = el("td");
      if (cell instanceof Node) td.append(cell);
      else td.textContent = show(cell);
      tr.append(td);
    }
    return tr;
  }

  function show(value) {
    if (value === null || value === undefined) return "—";
    if (typeof value === "string") return value;
    return JSON.stringify(value);
  }

  function mapping(obj, format) {
    const keys = Object.keys(obj || {}).sort();
    if (keys.length === 0) return "none";
    return keys.map((k) => `${k}: ${format ? format(obj[k]) : show(obj[k])}`).join(", ");
  }

  function formatTime(iso) {
    if (!iso) return "—";
    const when = new Date(iso);
    return Number.isNaN(when.getTime()) ? iso : when.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }

  // ---- session ---------------------------------------------------------------------------

  async function signIn(candidate) {
    const who = await (await request("GET", "whoami", { tokenOverride: candidate })).json();
    window.sessionStorage.setItem(TOKEN_KEY, candidate);
    enterApp(who);
  }

  function enterApp(who) {
    state.role = who.role;
    $("whoami").textContent = `${who.name} (${who.role})`;
    $("whoami").dataset.role = who.role;
    document.body.dataset.role = who.role;
    $("session").hidden = false;
    $("login-section").hidden = true;
    $("app-section").hidden = false;
    $("token-input").value = "";
    applyRole();
    $("customer-input").focus();
  }

  function signOut(clear) {
    window.sessionStorage.removeItem(TOKEN_KEY);
    state.role = null;
    state.customer = null;
    delete document.body.dataset.role;
    $("session").hidden = true;
    $("whoami").textContent = "";
    $("app-section").hidden = true;
    $("customer-section").hidden = true;
    $("login-section").hidden = false;
    if (clear) clearMessage();
  }

  function applyRole() {
    const reader = state.role !== "admin";
    for (const button of document.querySelectorAll(".admin-only")) {
      button.disabled = reader;
      if (reader) button.title = "Needs the admin role";
      else button.removeAttribute("title");
    }
    if (reader) $("erase-form").hidden = true;
  }

  // ---- customer --------------------------------------------------------------------------

  function range() {
    const since = $("since-input").value;
    const until = $("until-input").value;
    const params = {};
    if (since) params.since = since + "T00:00:00Z";
    if (until) {
      // the whole chosen day: up to the next midnight
      const next = new Date(until + "T00:00:00Z");
      next.setUTCDate(next.getUTCDate() + 1);
      params.until = next.toISOString().replace(/\.\d+Z$/, "Z");
    }
    return params;
  }

  async function lookUp(id) {
    const [consent, history, summary] = await Promise.all([
      getJson(customerPath(id, "/consent")),
      getJson(customerPath(id, "/consent/history")),
      getJson(customerPath(id, "/records/summary"), range()),
    ]);
    state.customer = id;
    $("customer-id").textContent = id;
    $("erase-result").hidden = true;
    resetErase();
    renderConsent(consent);
    renderHistory(history.history || []);
    renderSummary(summary);
    $("customer-section").hidden = false;
    applyRole();
  }

  async function refreshConsent() {
    const id = state.customer;
    const [consent, history] = await Promise.all([
      getJson(customerPath(id, "/consent")),
      getJson(customerPath(id, "/consent/history")),
    ]);
    renderConsent(consent);
    renderHistory(history.history || []);
  }

  function renderConsent(view) {
    const effective = view.effective || {};
    const stateNode = $("consent-state");
    stateNode.textContent = effective.state || "unknown";
    stateNode.dataset.state = effective.state || "unknown";
    stateNode.className = "state state-" + (effective.state || "unknown").replace(/[^a-z]/g, "");
    const sources = { store: "consent store", rules_file: "rules file", default: "default rules" };
    $("consent-source").textContent = sources[view.source] || view.source;
    $("consent-source").dataset.source = view.source;

    const stored = view.stored;
    if (stored) {
      const overridden = Object.keys(stored.document || {}).sort();
      $("consent-stored").textContent =
        `Stored version ${stored.version}, updated ${formatTime(stored.updated_at)} by ${stored.updated_by}. ` +
        (overridden.length ? `The store sets: ${overridden.join(", ")}; the rest comes from the rules.` : "");
    } else {
      $("consent-stored").textContent = "No stored record: the rules file or the defaults apply.";
    }

    const models = (patterns) => (Array.isArray(patterns) ? patterns.join(" ") : show(patterns));
    const details = [
      ["Consent version", effective.version],
      ["Providers", (effective.providers || []).join(", ") || "none"],
      ["Models", mapping(effective.models, models)],
      ["Actions", mapping(effective.actions)],
      ["Default action", effective.default_action],
      ["Thresholds", mapping(effective.thresholds)],
      ["Default threshold", effective.default_threshold],
      ["Unscannable content", effective.unscannable],
      ["Known identifiers", mapping(effective.known_identifier_counts)],
    ];
    const dl = $("consent-details");
    dl.replaceChildren();
    for (const [label, value] of details) {
      dl.append(el("dt", label), el("dd", show(value), { "data-field": label }));
    }
  }

  function describeChanges(changes) {
    const list = el("ul", null, { class: "changes" });
    for (const field of Object.keys(changes || {}).sort()) {
      const change = changes[field] || {};
      list.append(el("li", `${field}: ${show(change.from)} → ${show(change.to)}`));
    }
    return list;
  }

  function renderHistory(history) {
    const body = $("history-body");
    body.replaceChildren();
    for (const change of history) {
      body.append(
        row(
          [String(change.version), formatTime(change.at), change.actor, change.action, describeChanges(change.changes)],
          { "data-testid": "history-row", "data-version": String(change.version), "data-action": change.action },
        ),
      );
    }
    $("history-empty").hidden = history.length > 0;
  }

  function renderSummary(summary) {
    $("summary-total").textContent = String(summary.total || 0);
    const providers = $("summary-providers").tBodies[0];
    providers.replaceChildren();
    for (const name of Object.keys(summary.by_provider || {}).sort()) {
      const p = summary.by_provider[name];
      providers.append(row([name, p.records, p.forwarded, p.blocked, p.failed], { "data-provider": name }));
    }
    const entities = $("summary-entities").tBodies[0];
    entities.replaceChildren();
    for (const type of Object.keys(summary.by_entity_type || {}).sort()) {
      const e = summary.by_entity_type[type];
      entities.append(row([type, e.entities, e.records], { "data-entity-type": type }));
    }
    renderChart(summary.by_month || {});
  }

  // ---- chart: grouped bars, one group per month, one bar per provider ----------------------

  function niceMax(value) {
    if (value <= 5) return Math.max(1, value);
    const magnitude = 10 ** Math.floor(Math.log10(value));
    for (const step of [1, 2, 2.5, 5, 10]) {
      if (step * magnitude >= value) return step * magnitude;
    }
    return value;
  }

  function renderChart(byMonth) {
    const box = $("chart");
    box.replaceChildren();
    const months = Object.keys(byMonth).sort();
    if (months.length === 0) {
      box.append(el("p", "No sharing records in this period.", { class: "meta", "data-testid": "chart-empty" }));
      return;
    }
    const providers = [...new Set(months.flatMap((m) => Object.keys(byMonth[m] || {})))].sort();
    const colour = (name) => PALETTE[providers.indexOf(name) % PALETTE.length];
    const peak = Math.max(1, ...months.flatMap((m) => providers.map((p) => Number(byMonth[m][p] || 0))));
    const top = niceMax(peak);

    const bar = 20;
    const gap = 28;
    const groupWidth = Math.max(providers.length * bar, 56);
    const margin = { left: 56, right: 16, top: 16, bottom: 58 };
    const plotHeight = 220;
    const plotWidth = months.length * (groupWidth + gap) + gap;
    const width = margin.left + plotWidth + margin.right;
    const height = margin.top + plotHeight + margin.bottom;
    const y = (count) => margin.top + plotHeight - (count / top) * plotHeight;

    const chart = svg("svg", {
      id: "chart-svg",
      "data-testid": "chart-svg",
      role: "img",
      viewBox: `0 0 ${width} ${height}`,
      width,
      height,
      "aria-labelledby": "chart-title",
    });
    chart.append(svg("title", { id: "chart-title" }, "Requests per month and provider"));

    // y axis with gridlines at 0, ½ and the top
    const axis = svg("g", { class: "axis axis-y" });
    for (const tick of [0, top / 2, top]) {
      const ty = y(tick);
      axis.append(svg("line", { x1: margin.left, x2: margin.left + plotWidth, y1: ty, y2: ty, class: "grid" }));
      axis.append(
        svg("text", { x: margin.left - 6, y: ty + 4, "text-anchor": "end", class: "tick" }, Number.isInteger(tick) ? tick : tick.toFixed(1)),
      );
    }
    axis.append(
      svg(
        "text",
        { x: 14, y: margin.top + plotHeight / 2, "text-anchor": "middle", class: "axis-title", transform: `rotate(-90 14 ${margin.top + plotHeight / 2})` },
        "Requests",
      ),
    );
    chart.append(axis);

    months.forEach((month, index) => {
      const x0 = margin.left + gap + index * (groupWidth + gap);
      const group = svg("g", { class: "bar-group", "data-testid": "bar-group", "data-month": month });
      const offset = (groupWidth - providers.length * bar) / 2;
      providers.forEach((provider, p) => {
        const count = Number(byMonth[month][provider] || 0);
        const rect = svg("rect", {
          x: x0 + offset + p * bar,
          y: y(count),
          width: bar - 2,
          height: Math.max(0, margin.top + plotHeight - y(count)),
          fill: colour(provider),
          class: "bar",
          "data-provider": provider,
          "data-count": count,
        });
        rect.append(svg("title", {}, `${month} ${provider}: ${count}`));
        group.append(rect);
      });
      group.append(
        svg("text", { x: x0 + groupWidth / 2, y: margin.top + plotHeight + 16, "text-anchor": "middle", class: "tick" }, month),
      );
      chart.append(group);
    });

    chart.append(
      svg("line", { x1: margin.left, x2: margin.left + plotWidth, y1: margin.top + plotHeight, y2: margin.top + plotHeight, class: "baseline" }),
    );
    chart.append(
      svg("text", { x: margin.left + plotWidth / 2, y: height - 26, "text-anchor": "middle", class: "axis-title" }, "Month"),
    );

    // legend along the bottom
    const legend = svg("g", { class: "legend" });
    let lx = margin.left;
    for (const provider of providers) {
      legend.append(svg("rect", { x: lx, y: height - 14, width: 10, height: 10, fill: colour(provider) }));
      legend.append(svg("text", { x: lx + 14, y: height - 5, class: "tick" }, provider));
      lx += 24 + provider.length * 7;
    }
    chart.append(legend);
    if (lx + margin.right > width) {
      chart.setAttribute("width", lx + margin.right);
      chart.setAttribute("viewBox", `0 0 ${lx + margin.right} ${height}`);
    }
    box.append(chart);
  }

  // ---- confirmation ----------------------------------------------------------------------

  function confirmStep(text) {
    const dialog = $("confirm-dialog");
    $("confirm-text").textContent = text;
    return new Promise((resolve) => {
      state.confirmResolve = resolve;
      dialog.returnValue = "";
      dialog.showModal();
      $("confirm-no").focus();
    });
  }

  // ---- actions ---------------------------------------------------------------------------

  async function consentAction(action) {
    const id = state.customer;
    if (!id || state.role !== "admin") return;
    const ok = await confirmStep(`${ACTION_WORDS[action]} customer ${id}?`);
    if (!ok) return;
    const view = await postJson(customerPath(id, "/consent/" + action), {});
    renderConsent(view);
    await refreshConsent();
    showMessage(`Consent for ${id} is now ${view.effective.state}.`, "ok");
  }

  function filenameFrom(response, fallback) {
    const header = response.headers.get("Content-Disposition") || "";
    const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(header);
    const name = match ? decodeURIComponent(match[1]) : fallback;
    // a file name, never a path
    return name.replace(/[\\/]/g, "_");
  }

  async function exportRecords(format) {
    const id = state.customer;
    if (!id) return;
    const response = await request("GET", customerPath(id, "/records"), { params: { format, ...range() } });
    const blob = await response.blob();
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = filenameFrom(response, `${id}-records.${format}`);
    link.hidden = true;
    document.body.append(link);
    link.click();
    link.remove();
    // let the download start before the object URL goes
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    showMessage(`Export (${format.toUpperCase()}) of ${id} downloaded: ${blob.size} bytes.`, "ok");
  }

  function resetErase() {
    $("erase-form").hidden = true;
    $("erase-confirm-input").value = "";
    $("erase-confirm").disabled = true;
  }

  async function erase() {
    const id = state.customer;
    if (!id || state.role !== "admin") return;
    const typed = $("erase-confirm-input").value;
    if (typed !== id) {
      showMessage("The typed id does not match the customer; nothing was erased.", "error");
      return;
    }
    const result = await postJson(customerPath(id, "/erase"), { confirm: typed });
    resetErase();
    const erased = result.erased || {};
    const dl = $("erase-result");
    dl.replaceChildren();
    const lines = [
      ["Sharing records", erased.sharing_records],
      ["Consent record", erased.consent_record ? "yes" : "no"],
      ["History entries", erased.history_entries],
      ["Known identifiers", erased.known_identifiers],
      ["At", formatTime(result.at)],
    ];
    for (const [label, value] of lines) dl.append(el("dt", label), el("dd", show(value), { "data-field": label }));
    dl.hidden = false;
    showMessage(`Customer ${id} erased.`, "ok");
    await lookUp(id);
    dl.hidden = false;
  }

  // ---- wiring ----------------------------------------------------------------------------

  // body[data-busy] counts the user actions still running (requests and rendering), so a
  // test driving the page can wait for "0" instead of guessing with sleeps.
  let busy = 0;
  function setBusy(delta) {
    busy += delta;
    document.body.dataset.busy = String(busy);
  }

  function guarded(work) {
    return async (event) => {
      if (event) event.preventDefault();
      const target = event ? event.currentTarget : null;
      if (target instanceof HTMLButtonElement) target.setAttribute("aria-busy", "true");
      setBusy(1);
      try {
        await work(event);
      } catch (err) {
        showError(err);
      } finally {
        if (target instanceof HTMLButtonElement) target.removeAttribute("aria-busy");
        setBusy(-1);
      }
    };
  }

  function wire() {
    $("login-form").addEventListener(
      "submit",
      guarded(async () => {
        clearMessage();
        const candidate = $("token-input").value.trim();
        if (!candidate) {
          showMessage("Enter a token.", "error");
          return;
        }
        await signIn(candidate);
      }),
    );
    $("logout").addEventListener("click", () => signOut(true));
    $("lookup-form").addEventListener(
      "submit",
      guarded(async () => {
        clearMessage();
        const id = $("customer-input").value.trim();
        if (!CUSTOMER_ID.test(id)) {
          showMessage("A customer id is 1–128 letters, digits, dots, underscores, colons or hyphens.", "error");
          return;
        }
        await lookUp(id);
      }),
    );
    for (const button of document.querySelectorAll("[data-action]")) {
      button.addEventListener(
        "click",
        guarded(async () => {
          clearMessage();
          await consentAction(button.dataset.action);
        }),
      );
    }
    for (const button of document.querySelectorAll("[data-format]")) {
      button.addEventListener(
        "click",
        guarded(async () => {
          clearMessage();
          await exportRecords(button.dataset.format);
        }),
      );
    }
    $("erase-start").addEventListener("click", () => {
      if (state.role !== "admin") return;
      $("erase-form").hidden = false;
      $("erase-result").hidden = true;
      $("erase-confirm-input").focus();
    });
    $("erase-confirm-input").addEventListener("input", () => {
      $("erase-confirm").disabled = $("erase-confirm-input").value !== state.customer;
    });
    $("erase-cancel").addEventListener("click", resetErase);
    $("erase-form").addEventListener(
      "submit",
      guarded(async () => {
        clearMessage();
        await erase();
      }),
    );
    $("confirm-dialog").addEventListener("close", () => {
      const resolve = state.confirmResolve;
      state.confirmResolve = null;
      if (resolve) resolve($("confirm-dialog").returnValue === "ok");
    });
  }

  async function start() {
    wire();
    const saved = token();
    if (!saved) return;
    try {
      enterApp(await getJson("whoami"));
    } catch (err) {
      showError(err);
    }
  }

  document.body.dataset.ready = "false";
  setBusy(0);
  start().finally(() => {
    document.body.dataset.ready = "true";
  });
})();
