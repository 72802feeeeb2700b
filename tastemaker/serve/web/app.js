// The tastemaker web page: home shelves, playlist continuation, a Radio session with feedback, and audit reports.
// Plain JavaScript without a build step; every text from the API is inserted as text, never as HTML.
"use strict";

const PAGES = ["home", "continue", "radio", "audit"];
const radio = { state: null, pending: [], user: null };

// Helpers

function $(id) {
  return document.getElementById(id);
}

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function showMessage(text) {
  const box = $("message");
  box.textContent = text;
  box.hidden = !text;
}

function showFallback(id, data) {
  const box = $(id);
  const parts = [];
  if (data.fallback) parts.push(`Fallback: ${data.fallback}`);
  if (data.unknown && data.unknown.length) parts.push(`Not known to the model: ${data.unknown.join(", ")}`);
  box.textContent = parts.join(". ");
  box.hidden = parts.length === 0;
}

function currentUser() {
  return $("user").value.trim();
}

// crypto.randomUUID exists only on https and localhost pages; getRandomValues exists everywhere.
function newId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// A browser without a user name posts feedback under a random name kept in this browser.
function feedbackUser() {
  const typed = currentUser();
  if (typed) return typed;
  let name = localStorage.getItem("tastemaker-web-user");
  if (!name) {
    name = `web-${newId()}`;
    localStorage.setItem("tastemaker-web-user", name);
  }
  return name;
}

async function callApi(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const key = $("api-key").value.trim();
  if (key && options.method === "POST") headers["X-API-Key"] = key;
  const response = await fetch(path, {
    method: options.method || "GET",
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const reason = data.message || response.statusText;
    throw new Error(`${response.status} ${data.error || ""}: ${reason} (request ${data.request_id || "-"})`);
  }
  return data;
}

function trackLabel(track) {
  if (!track.name) return track.track_id;
  return track.artist ? `${track.name} by ${track.artist}` : track.name;
}

function trackItem(item) {
  return element("li", { "data-track-id": item.track_id },
    element("span", { class: "name", text: trackLabel(item) }),
    element("span", { class: "why", text: item.explanation || item.source }));
}

// Navigation

function showPage() {
  const page = PAGES.includes(location.hash.slice(1)) ? location.hash.slice(1) : "home";
  for (const name of PAGES) {
    $(`page-${name}`).hidden = name !== page;
    document.querySelector(`nav a[data-page="${name}"]`).classList.toggle("active", name === page);
  }
  showMessage("");
  if (page === "audit") loadReports().catch((error) => showMessage(error.message));
}

async function loadUsers() {
  const health = await callApi("/health").catch(() => null);
  if (health && health.bundle) $("bundle").textContent = `bundle ${health.bundle}, model ${health.model}`;
  const data = await callApi("/v1/users");
  const list = $("users");
  list.replaceChildren(...data.users.map((user) => element("option", { value: user })));
  if (!currentUser() && data.users.length) $("user").value = data.users[0];
}

// Home

async function showHome() {
  const user = currentUser();
  if (!user) {
    showMessage("Type a user name first.");
    return;
  }
  showMessage("");
  const query = new URLSearchParams({ user });
  const [home, recommended] = await Promise.all([
    callApi(`/v1/home?${query}`),
    callApi(`/v1/recommendations?${query}&n=10`),
  ]);
  showFallback("home-fallback", home);
  const shelves = home.shelves.map((shelf) => {
    const cards = shelf.cards.map((card) => element("article", { class: "card", "data-card-id": card.card_id },
      element("h3", { text: card.title }),
      element("p", { class: "muted", text: card.explanation }),
      element("ul", {}, ...card.tracks.map((track) => element("li", { text: trackLabel(track) })))));
    return element("section", { class: "shelf", "data-shelf-id": shelf.shelf_id },
      element("h2", { text: shelf.title }),
      element("p", { class: "muted", text: shelf.explanation }),
      element("div", { class: "cards" }, ...cards));
  });
  $("shelves").replaceChildren(...shelves);
  $("recommended-title").hidden = false;
  $("recommended").replaceChildren(...recommended.items.map(trackItem));
}

// Continue a playlist

async function continuePlaylist(event) {
  event.preventDefault();
  showMessage("");
  const seeds = $("seeds").value.split("\n").map((line) => line.trim()).filter(Boolean);
  const title = $("title").value.trim() || null;
  const data = await callApi("/v1/continuation", {
    method: "POST",
    body: { seeds, title, n: Number($("continue-n").value) },
  });
  showFallback("continue-fallback", data);
  $("continuation").replaceChildren(...data.items.map(trackItem));
}

// Radio

async function startRadio(event) {
  event.preventDefault();
  showMessage("");
  const seed = $("radio-seed").value.trim();
  if (!seed) {
    showMessage("Give a seed: a track URI, artist:NAME or playlist:PID.");
    return;
  }
  radio.user = currentUser() || null;
  radio.pending = [];
  const body = { seed };
  if (radio.user) body.user = radio.user;
  showRadioPage(await callApi("/v1/radio", { method: "POST", body }));
}

async function nextRadioPage() {
  showMessage("");
  const body = { state: radio.state, feedback: radio.pending };
  if (radio.user) body.user = radio.user;
  const data = await callApi("/v1/radio", { method: "POST", body });
  radio.pending = [];
  showRadioPage(data);
}

function showRadioPage(data) {
  radio.state = data.state;
  showFallback("radio-fallback", data);
  $("radio-title").hidden = false;
  $("radio-title").textContent = `${data.title}, page ${data.details.page}`;
  $("radio-tracks").replaceChildren(...data.items.map((item) => {
    const row = trackItem(item);
    row.append(
      element("button", { class: "secondary", text: "Skip", onclick: () => react(row, item, "skip") }),
      element("button", { text: "Like", onclick: () => react(row, item, "like") }));
    return row;
  }));
  $("radio-next").hidden = false;
  $("radio-status").textContent = "";
}

// A skip or like steers the next page of the station and is posted to the feedback log.
async function react(row, item, type) {
  for (const button of row.querySelectorAll("button")) button.disabled = true;
  row.classList.add(type === "skip" ? "skipped" : "liked");
  radio.pending.push({ track_id: item.track_id, outcome: type === "skip" ? "skip" : "listen" });
  try {
    const result = await callApi("/v1/feedback", {
      method: "POST",
      body: { event_id: newId(), user: feedbackUser(), track_id: item.track_id, type, context: "radio" },
    });
    $("radio-status").textContent = `${type} recorded as event ${result.sequence} of the feedback log`;
  } catch (error) {
    $("radio-status").textContent = "";
    showMessage(`The ${type} steers this station but was not recorded: ${error.message}`);
  }
}

// Audit

async function loadReports() {
  const data = await callApi("/v1/reports");
  if (!data.reports.length) {
    $("reports").replaceChildren(element("p", {
      text: "No reports yet: run `tastemaker audit` or `tastemaker simulate`, which write them under the data " +
        "directory's reports folder.",
    }));
    return;
  }
  $("reports").replaceChildren(...data.reports.map((report) => element("section", { class: "report" },
    element("h2", { text: `${report.title} (${report.name})` }),
    element("p", { class: "muted" }, ...report.files.filter((url) => !url.endsWith(".png")).flatMap((url) => [
      element("a", { href: url, text: url.split("/").pop() }), " "])),
    ...report.plots.map((url) => element("img", { src: url, alt: url.split("/").pop(), loading: "eager" })))));
}

// Start

function run(handler) {
  return (event) => handler(event).catch((error) => showMessage(error.message));
}

window.addEventListener("hashchange", showPage);
window.addEventListener("DOMContentLoaded", () => {
  $("api-key").value = sessionStorage.getItem("tastemaker-api-key") || "";
  $("api-key").addEventListener("change", () => sessionStorage.setItem("tastemaker-api-key", $("api-key").value));
  $("home-show").addEventListener("click", run(showHome));
  $("continue-form").addEventListener("submit", run(continuePlaylist));
  $("radio-form").addEventListener("submit", run(startRadio));
  $("radio-next").addEventListener("click", run(nextRadioPage));
  showPage();
  loadUsers().catch((error) => showMessage(error.message));
});
