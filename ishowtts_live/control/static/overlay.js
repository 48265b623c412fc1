// Follows /overlay/feed (read-only; no token) and shows what is being read
// aloud. Chat text is untrusted: it only ever goes into textContent.
"use strict";

(function () {
  const params = new URLSearchParams(location.search);
  const next = clamp(parseInt(params.get("next") ?? "3", 10), 0, 10, 3);
  const hold = clamp(parseInt(params.get("hold") ?? "1500", 10), 0, 60000, 1500);
  const root = document.getElementById("overlay");
  const caption = document.getElementById("caption");
  const user = document.getElementById("caption-user");
  const badge = document.getElementById("caption-badge");
  const text = document.getElementById("caption-text");
  const nextBox = document.getElementById("next");
  const nextList = document.getElementById("next-list");
  const paused = document.getElementById("paused");
  const PAID = new Set(["superchat", "gift", "member"]);
  const SVG = "http://www.w3.org/2000/svg";
  let hideTimer = null;
  let retry = 500;

  if (params.get("position") === "top") root.classList.add("top");

  function clamp(value, lo, hi, fallback) {
    return Number.isFinite(value) ? Math.min(hi, Math.max(lo, value)) : fallback;
  }

  function isPaid(item) {
    return PAID.has(item.kind) && item.amount > 0;
  }

  // An announcement (no user) shows a megaphone drawn as SVG: a font glyph
  // would be a missing-glyph box where no emoji font is installed.
  function speaker(item) {
    if (item.user_name) return [document.createTextNode(item.user_name)];
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "icon");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-label", "announcement");
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", "M3 10v4h3l7 4.5v-13L6 10zm12.5-3v10a5 5 0 0 0 0-10zM18 4l2-1.5v19L18 20z");
    svg.append(path);
    return [svg];
  }

  function showCaption(item) {
    clearTimeout(hideTimer);
    hideTimer = null;
    user.replaceChildren(...speaker(item));
    text.textContent = item.text;
    caption.classList.toggle("paid", isPaid(item));
    badge.hidden = !isPaid(item);
    badge.textContent = isPaid(item) ? `${item.kind === "superchat" ? "SC" : item.kind} ${item.amount}` : "";
    caption.dataset.visible = "true";
  }

  function hideCaption() {
    if (caption.dataset.visible !== "true" || hideTimer !== null) return;
    hideTimer = setTimeout(() => {
      caption.dataset.visible = "false";
      hideTimer = null;
    }, hold);
  }

  function renderNext(items) {
    nextList.replaceChildren(...items.map((item) => {
      const li = document.createElement("li");
      const who = document.createElement("span");
      who.className = "user";
      who.append(...speaker(item));
      li.append(who, document.createTextNode(item.text));
      li.classList.toggle("paid", isPaid(item));
      return li;
    }));
    nextBox.hidden = items.length === 0;
  }

  function render(state) {
    if (state.speaking) showCaption(state.speaking);
    else hideCaption();
    renderNext(state.next || []);
    paused.hidden = !state.paused;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/overlay/feed?next=${next}`);
    ws.onopen = () => {
      retry = 500;
      root.dataset.connection = "open";
    };
    ws.onmessage = (msg) => {
      try {
        render(JSON.parse(msg.data));
      } catch (err) {
        console.error("overlay: bad message", err);
      }
    };
    ws.onclose = () => {
      // The daemon restarted or is not up yet: keep the stream clean and try again.
      root.dataset.connection = "closed";
      caption.dataset.visible = "false";
      renderNext([]);
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 5000);
    };
  }

  connect();
})();
