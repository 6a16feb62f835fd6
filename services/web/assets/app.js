// Itinera's page script. Every page works without it; it adds instant filtering and sorting of
// results, seat-map selection, and live flight status. No access token is ever seen here: live
// updates come from this site's own /live, which the session cookie authenticates.
"use strict";

function filterResults(form) {
  const list = document.querySelector("[data-results]");
  if (!list) return;
  const data = new FormData(form);
  const airlines = data.getAll("airline");
  const time = data.get("time") || "";
  const max = parseInt(data.get("maxPrice"), 10);
  const sort = data.get("sort") || "price";
  const items = Array.from(list.children);
  let shown = 0;
  for (const item of items) {
    const keep = (airlines.length === 0 || airlines.includes(item.dataset.airline)) &&
      (time === "" || item.dataset.time === time) &&
      (Number.isNaN(max) || parseInt(item.dataset.price, 10) <= max);
    item.hidden = !keep;
    if (keep) shown += 1;
  }
  const key = { price: "price", departure: "departure", duration: "duration" }[sort] || "price";
  items.sort((a, b) => parseInt(a.dataset[key], 10) - parseInt(b.dataset[key], 10));
  for (const item of items) list.appendChild(item);
  const count = document.querySelector("[data-count]");
  if (count) count.textContent = `${shown} of ${items.length} flights`;
}

function setUpFilters() {
  const form = document.querySelector("form[data-filters]");
  if (!form) return;
  form.addEventListener("change", (event) => {
    // Route fields still need the button: they start a new search.
    if (["airline", "time", "sort", "maxPrice"].includes(event.target.name)) filterResults(form);
  });
  form.addEventListener("input", (event) => {
    if (event.target.name === "maxPrice") filterResults(form);
  });
}

function setUpSeatMap() {
  const map = document.querySelector("[data-seatmap]");
  if (!map) return;
  map.hidden = false;
  const choices = Array.from(document.querySelectorAll("select[data-seat-choice]"));
  const refresh = () => {
    const chosen = new Set(choices.map((c) => c.value).filter(Boolean));
    for (const seat of map.querySelectorAll("button[data-seat]")) {
      seat.setAttribute("aria-pressed", chosen.has(seat.dataset.seat) ? "true" : "false");
    }
  };
  map.addEventListener("click", (event) => {
    const seat = event.target.closest("button[data-seat]");
    if (!seat || seat.disabled) return;
    const code = seat.dataset.seat;
    const holder = choices.find((c) => c.value === code);
    if (holder) {
      holder.value = "";
    } else {
      // Every passenger has a seat: a seat is given back (clicked again) before another is taken.
      const free = choices.find((c) => c.value === "");
      if (!free) return;
      free.value = code;
    }
    refresh();
  });
  for (const choice of choices) choice.addEventListener("change", refresh);
  refresh();
}

function badgeTone(status) {
  if (["On Time", "Landed", "Boarding"].includes(status)) return "good";
  if (status === "Delayed") return "wait";
  if (status === "Cancelled") return "bad";
  return "info";
}

function setUpLive() {
  const codes = new Set();
  for (const el of document.querySelectorAll("[data-live-flights]")) {
    for (const code of el.dataset.liveFlights.split(",")) if (code) codes.add(code.toUpperCase());
  }
  if (codes.size === 0 || !window.EventSource) return;
  const source = new EventSource(`/live?flights=${Array.from(codes).slice(0, 50).join(",")}`);
  source.addEventListener("update", (event) => {
    let update;
    try { update = JSON.parse(event.data); } catch { return; }
    const code = (update.flight_code || "").toUpperCase();
    if (update.flight) {
      for (const el of document.querySelectorAll(`[data-flight-status="${CSS.escape(code)}"]`)) {
        const badge = document.createElement("span");
        badge.className = `badge ${badgeTone(update.flight.status)}`;
        badge.textContent = update.flight.status;
        el.replaceChildren(badge);
      }
      for (const el of document.querySelectorAll(`[data-flight-gate="${CSS.escape(code)}"]`)) {
        el.textContent = update.flight.gate || "not yet announced";
      }
    }
    for (const log of document.querySelectorAll("[data-live-log]")) {
      const line = document.createElement("p");
      line.textContent = update.update;
      log.prepend(line);
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setUpFilters();
  setUpSeatMap();
  setUpLive();
});

// Result pages whose filters the server applies (hotels, cars): a changed filter fetches the
// same page for the new filters and swaps its results in, without reloading.
function setUpLiveForms() {
  for (const form of document.querySelectorAll("form[data-live-form]")) {
    form.addEventListener("change", async () => {
      if (!form.checkValidity()) return;
      const url = `${form.action}?${new URLSearchParams(new FormData(form))}`;
      const answer = await fetch(url, { headers: { accept: "text/html" } });
      if (!answer.ok) return;
      const next = new DOMParser().parseFromString(await answer.text(), "text/html");
      for (const part of ["[data-results]", "[data-count]"]) {
        const fresh = next.querySelector(part);
        const old = document.querySelector(part);
        if (fresh && old) old.replaceWith(fresh);
      }
      history.replaceState(null, "", url);
    });
  }
}
document.addEventListener("DOMContentLoaded", setUpLiveForms);
