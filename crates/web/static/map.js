// Tsunagu: the directory's map (Leaflet + Leaflet.markercluster, vendored under /static/vendor).
// Progressive enhancement: the list next to the map is the page; the map only shows it.
// Every map is a `div.map` (rendered by templates/directory/_map.html) configured by attributes:
//   data-tiles        tile URL template ({z}/{x}/{y}); empty: no background tiles (grey), the map
//                     still works (markers, clusters, popups, zoom)
//   data-attribution  the tiles' attribution (operator-configured HTML)
//   data-markers      a CSS selector; every `[data-lat][data-lon]` element inside the matching
//                     elements is a marker, with `data-name` (popup text) and `data-href` (its link)
//   data-center       "lat,lon" when there is nothing to show (default: Kanazawa); data-zoom (13)
//   data-circle       "lat,lon,km": a radius search's circle
//   data-pick         the id of an input: a click on the map writes "lat,lon" into it
// Buttons with `data-locate="<input id>"` fill that input from the device's position.
// No HTML is built from data: popups are DOM nodes with textContent (the CSP forbids inline
// script and style anyway). When ready, the map carries `data-map-ready` and `data-map-count`
// (the number of markers), for people and tests.
"use strict";

(function directoryMap() {
  if (typeof window.L === "undefined") return;
  const L = window.L;

  // Leaflet guesses the icons' folder from its CSS, which fails when the CSS is loaded late or
  // from another path: name it.
  L.Icon.Default.imagePath = "/static/vendor/leaflet/images/";

  const KANAZAWA = [36.5613, 136.6562];
  const DEFAULT_ZOOM = 13;
  const SINGLE_ZOOM = 16;
  const MAX_ZOOM = 18;
  const PICK_ZOOM = 15;

  // "lat,lon" (or "lat,lon,extra…") → numbers, or null when not valid coordinates.
  function parseNumbers(text, count) {
    if (!text) return null;
    const parts = String(text).split(",").map((p) => p.trim());
    if (parts.length !== count) return null;
    const nums = parts.map(Number);
    if (parts.some((p) => p === "") || nums.some((n) => !Number.isFinite(n))) return null;
    if (Math.abs(nums[0]) > 90 || Math.abs(nums[1]) > 180) return null;
    return nums;
  }

  function formatPoint(latlng) {
    return `${latlng.lat.toFixed(5)},${latlng.lng.toFixed(5)}`;
  }

  // Only links within the site or to http(s) pages: never `javascript:` and the like.
  function safeHref(href) {
    if (!href) return null;
    try {
      const url = new URL(href, window.location.href);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch {
      return null;
    }
  }

  function popupContent(name, href) {
    const box = document.createElement("div");
    box.className = "map-popup";
    const link = safeHref(href);
    const node = document.createElement(link ? "a" : "span");
    if (link) node.href = link;
    node.textContent = name;
    box.appendChild(node);
    return box;
  }

  function markerElements(selector) {
    if (!selector) return [];
    let scopes;
    try {
      scopes = document.querySelectorAll(selector);
    } catch {
      return [];
    }
    const found = [];
    scopes.forEach((scope) => {
      if (scope.matches("[data-lat][data-lon]")) found.push(scope);
      scope.querySelectorAll("[data-lat][data-lon]").forEach((e) => found.push(e));
    });
    return found;
  }

  function setInput(input, latlng) {
    input.value = formatPoint(latlng);
    input.dispatchEvent(new Event("input", { bubbles: true }));
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }

  // The maps that write into an input, by the input's id: for the locate buttons.
  const pickers = new Map();

  function setup(el) {
    if (el.hasAttribute("data-map-ready")) return;
    el.hidden = false;
    const data = el.dataset;
    const map = L.map(el, { maxZoom: MAX_ZOOM, minZoom: 4 });

    const tiles = (data.tiles || "").trim();
    if (tiles) {
      L.tileLayer(tiles, { attribution: data.attribution || "", maxZoom: MAX_ZOOM }).addTo(map);
    }

    const group =
      typeof L.markerClusterGroup === "function"
        ? L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 50 })
        : L.featureGroup();
    const points = [];
    markerElements(data.markers).forEach((item) => {
      const p = parseNumbers(`${item.dataset.lat},${item.dataset.lon}`, 2);
      if (!p) return;
      const name = item.dataset.name || "";
      const marker = L.marker(p, { title: name, alt: name, keyboard: true });
      marker.bindPopup(popupContent(name, item.dataset.href));
      group.addLayer(marker);
      points.push(p);
    });
    group.addTo(map);

    let bounds = points.length ? L.latLngBounds(points) : null;
    const circle = parseNumbers(data.circle, 3);
    if (circle && circle[2] > 0) {
      const radius = circle[2] * 1000;
      L.circle([circle[0], circle[1]], { radius, className: "map-circle", interactive: false }).addTo(map);
      const area = L.latLng(circle[0], circle[1]).toBounds(radius * 2);
      bounds = bounds ? bounds.extend(area) : area;
    }

    let pickMarker = null;
    const pickInput = data.pick ? document.getElementById(data.pick) : null;
    const showPick = (latlng, move) => {
      if (pickMarker) pickMarker.setLatLng(latlng);
      else {
        const icon = new L.Icon.Default({ className: "map-pick-marker" });
        pickMarker = L.marker(latlng, { icon, keyboard: false, zIndexOffset: 1000 }).addTo(map);
      }
      // No animation: a second jump while one still runs would be undone by the first.
      if (move) map.setView(latlng, Math.max(map.getZoom(), PICK_ZOOM), { animate: false });
    };
    if (pickInput) {
      el.classList.add("map-pick");
      map.on("click", (e) => {
        const latlng = e.latlng.wrap();
        setInput(pickInput, latlng);
        showPick(latlng, false);
      });
      // Typed by a person (our own events are not trusted): follow the input.
      pickInput.addEventListener("change", (e) => {
        if (!e.isTrusted) return;
        const p = parseNumbers(pickInput.value, 2);
        if (p) showPick(L.latLng(p), true);
      });
      pickers.set(data.pick, { input: pickInput, show: showPick });
      document.querySelectorAll("[data-map-hint]").forEach((hint) => {
        if (hint.dataset.mapHint === data.pick) hint.hidden = false;
      });
    }
    const picked = pickInput ? parseNumbers(pickInput.value, 2) : null;

    if (points.length === 1 && !circle) {
      map.setView(points[0], SINGLE_ZOOM);
    } else if (bounds) {
      map.fitBounds(bounds, { padding: [24, 24], maxZoom: SINGLE_ZOOM });
    } else if (picked) {
      map.setView(picked, PICK_ZOOM);
    } else {
      const center = parseNumbers(data.center, 2) || KANAZAWA;
      const zoom = Number.parseInt(data.zoom, 10);
      map.setView(center, Number.isFinite(zoom) ? Math.min(Math.max(zoom, 4), MAX_ZOOM) : DEFAULT_ZOOM);
    }
    if (picked) showPick(L.latLng(picked), false);

    el.setAttribute("data-map-count", String(points.length));
    el.setAttribute("data-map-ready", "");
  }

  // "Use my location": shown only where the browser can tell it.
  function setupLocate(button) {
    if (!navigator.geolocation || !window.isSecureContext) return;
    button.hidden = false;
    const status = button.parentElement && button.parentElement.querySelector(".map-status");
    const say = (text) => {
      if (status) status.textContent = text || "";
    };
    button.addEventListener("click", () => {
      const id = button.dataset.locate;
      const input = document.getElementById(id);
      if (!input) return;
      button.disabled = true;
      say("");
      navigator.geolocation.getCurrentPosition(
        (pos) => {
          button.disabled = false;
          const latlng = L.latLng(pos.coords.latitude, pos.coords.longitude);
          setInput(input, latlng);
          const picker = pickers.get(id);
          if (picker) picker.show(latlng, true);
        },
        () => {
          button.disabled = false;
          say(button.dataset.locateError);
        },
        { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 },
      );
    });
  }

  function init() {
    document.querySelectorAll("div.map").forEach(setup);
    document.querySelectorAll("button[data-locate]").forEach(setupLocate);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
