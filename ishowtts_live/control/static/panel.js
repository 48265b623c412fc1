// The streamer's control panel. It follows /api/events (a WebSocket) and, when
// something happened, reads /api/status and /api/queue again; it never polls.
// The token comes from the URL's fragment (#token=…, never sent to a server),
// is kept in this tab's sessionStorage and sent as the bearer header (on the
// WebSocket, as an offered subprotocol: browsers cannot set its headers).
// Chat text is untrusted: it only ever goes into textContent.
// One file on purpose: no build step, nothing fetched from elsewhere.
"use strict";

(function () {
  const TOKEN_KEY = "ishowtts-live.token";
  const PAID = new Set(["superchat", "gift", "member"]);
  const TEXT = {
    en: {
      help_title: "This panel needs the daemon's token",
      help_missing: "No token was given to this page.",
      help_refused: "The daemon refused this page's token (it belongs to another daemon, or was changed).",
      help_run: "On the machine running ishowtts-live, run:",
      help_paste: "and open the URL it prints (http://127.0.0.1:8765/panel#token=…) here, or paste it into OBS → Docks → Custom Browser Docks.",
      live: "live", connecting: "connecting…", lost: "connection lost — reconnecting…",
      now: "Now speaking", idle: "Nothing is being spoken.", skip: "Skip", mute: "Mute", block: "Block",
      pause: "Pause", resume: "Resume", paused: "paused", clear: "Clear", clear_confirm: "Clear all?",
      voice: "Voice", say: "Announce", say_placeholder: "Announcement to read aloud…",
      queue: "Queue", queue_empty: "No message is waiting.", remove: "Remove", mute_user: "Mute user",
      moderation: "Moderation", muted_users: "Muted users", blocked_words: "Blocked words",
      mute_placeholder: "user name or id", block_placeholder: "word", none: "none",
      locked: "set in the config file: change it there",
      health: "Health", engine: "Engine", recent: "Last messages", who: "user", audio: "audio",
      first_audio: "1st audio", first_audio_help: "from the message's turn to its first sound",
      delay: "delay", delay_help: "from the chat message's arrival to its first sound", received: "received", spoken: "spoken", skipped: "skipped", failed: "failed",
      waiting: "waiting", dropped: "dropped", no_drops: "nothing dropped", last_minute: "last minute",
      read: "read", unknown: "unknown", unparsable: "unparsable", last_error: "last error",
      kind_chat: "chat", kind_superchat: "super chat", kind_gift: "gift", kind_member: "membership",
      kind_system: "announcement", announcement: "announcement",
      state_connecting: "connecting", state_connected: "connected", state_reconnecting: "reconnecting",
      state_stopped: "stopped", state_running: "running", state_ready: "ready", state_degraded: "degraded",
      state_unavailable: "unavailable", state_starting: "starting",
      not_queued: "not queued", done_say: "announcement queued", synthesizing: "synthesizing",
    },
    zh: {
      help_title: "控制面板需要守护进程的令牌",
      help_missing: "这个页面没有拿到令牌。",
      help_refused: "守护进程拒绝了这个页面的令牌（属于另一个守护进程，或已更换）。",
      help_run: "在运行 ishowtts-live 的机器上执行：",
      help_paste: "然后在这里打开它输出的网址（http://127.0.0.1:8765/panel#token=…），或粘贴到 OBS → 停靠窗口 → 自定义浏览器停靠窗口。",
      live: "已连接", connecting: "连接中…", lost: "连接已断开，正在重连…",
      now: "正在朗读", idle: "当前没有朗读。", skip: "跳过", mute: "禁言", block: "屏蔽",
      pause: "暂停", resume: "继续", paused: "已暂停", clear: "清空", clear_confirm: "确认清空？",
      voice: "音色", say: "播报", say_placeholder: "要朗读的公告…",
      queue: "队列", queue_empty: "没有等待中的消息。", remove: "移除", mute_user: "禁言用户",
      moderation: "管理", muted_users: "禁言用户", blocked_words: "屏蔽词",
      mute_placeholder: "用户名或 ID", block_placeholder: "词语", none: "无",
      locked: "由配置文件设定：请在配置文件中修改",
      health: "状态", engine: "引擎", recent: "最近的消息", who: "用户", audio: "时长",
      first_audio: "首音", first_audio_help: "从轮到这条消息到发出第一个声音",
      delay: "延迟", delay_help: "从收到弹幕到发出第一个声音", received: "收到", spoken: "已读", skipped: "跳过", failed: "失败",
      waiting: "等待", dropped: "丢弃", no_drops: "没有丢弃", last_minute: "最近一分钟",
      read: "读取", unknown: "未知", unparsable: "无法解析", last_error: "最近错误",
      kind_chat: "弹幕", kind_superchat: "醒目留言", kind_gift: "礼物", kind_member: "舰长/会员",
      kind_system: "公告", announcement: "公告",
      state_connecting: "连接中", state_connected: "已连接", state_reconnecting: "重连中",
      state_stopped: "已停止", state_running: "运行中", state_ready: "就绪", state_degraded: "降级",
      state_unavailable: "不可用", state_starting: "启动中",
      not_queued: "未加入队列", done_say: "公告已加入队列", synthesizing: "合成中",
    },
  };
  const STATE_CLASS = { connected: "ok", ready: "ok", running: "ok", degraded: "warn", reconnecting: "warn",
                        connecting: "warn", starting: "warn", unavailable: "bad", stopped: "bad" };

  const params = new URLSearchParams(location.search);
  const wanted = (params.get("lang") || (navigator.languages && navigator.languages[0]) || navigator.language || "en");
  const lang = wanted.toLowerCase().startsWith("zh") ? "zh" : "en";
  const t = (key) => TEXT[lang][key] ?? TEXT.en[key] ?? key;
  const $ = (id) => document.getElementById(id);

  let token = takeToken();
  let ws = null;
  let retry = 500;
  let status = null;
  let queueItems = [];
  let fetchedAt = performance.now();
  let refreshTimer = null;
  let refreshing = false;
  let again = false;
  let clearArmed = null;
  let toastTimer = null;
  const names = new Map(); // a muted user's key → the name the panel saw them with

  // ---------------------------------------------------------------- the token

  function takeToken() {
    const found = /(?:^#|&)token=([^&]*)/.exec(location.hash);
    if (found) {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(found[1]));
      // out of the address bar (and of screenshots of it); a reload finds it in sessionStorage
      history.replaceState(null, "", location.pathname + location.search);
    }
    return sessionStorage.getItem(TOKEN_KEY) || "";
  }

  class Refused extends Error {}

  function showHelp(why) {
    document.body.dataset.auth = why;
    $("help-why").textContent = t(why === "refused" ? "help_refused" : "help_missing");
    $("help").hidden = false;
    $("app").hidden = true;
    $("conn").textContent = "";
    if (ws) ws.close();
  }

  // ---------------------------------------------------------------- the API

  async function api(method, path, body) {
    const headers = { Authorization: `Bearer ${token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                                     cache: "no-store", credentials: "omit" });
    if (resp.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      showHelp("refused");
      throw new Refused("401");
    }
    const answer = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new Error(answer.error || `HTTP ${resp.status}`);
    return answer;
  }

  async function command(method, path, body) {
    try {
      const answer = await api(method, path, body);
      scheduleRefresh();
      return answer;
    } catch (err) {
      if (!(err instanceof Refused)) toast(err.message || String(err));
      return null;
    }
  }

  function scheduleRefresh() {
    if (refreshTimer === null) refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, 80);
  }

  async function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    try {
      // while the daemon starts, only its status answers (the rest is 503 until ready)
      const s = await api("GET", "/api/status");
      const q = s.ready ? await api("GET", "/api/queue") : { items: [] };
      status = s;
      queueItems = q.items;
      fetchedAt = performance.now();
      render();
    } catch (err) {
      if (!(err instanceof Refused)) console.warn("panel: refresh failed", err);
    } finally {
      refreshing = false;
      if (again) { again = false; scheduleRefresh(); }
    }
  }

  async function loadVoices() {
    try {
      const v = await api("GET", "/api/voices");
      const select = $("voice");
      select.replaceChildren(...v.voices.map((id) => {
        const option = document.createElement("option");
        option.value = option.textContent = id;
        return option;
      }));
      select.value = v.voice;
    } catch (err) {
      if (!(err instanceof Refused)) console.warn("panel: voices failed", err);
    }
  }

  // ---------------------------------------------------------------- the event stream

  function setConnection(state) {
    document.body.dataset.connection = state;
    $("conn").textContent = t(state === "open" ? "live" : state);
    $("app").inert = state === "lost";
  }

  async function connect() {
    try {
      await api("GET", "/api/status"); // a refused token shows the help instead of reconnecting for ever
    } catch (err) {
      if (err instanceof Refused) return;
      return lost();
    }
    try {
      ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/events`,
                         ["ishowtts-live", `bearer.${token}`]);
    } catch (err) { // a token a subprotocol cannot carry: not a token this daemon made
      return showHelp("refused");
    }
    ws.onopen = () => {
      retry = 500;
      setConnection("open");
      loadVoices();
      refresh();
    };
    ws.onmessage = (msg) => {
      let event;
      try { event = JSON.parse(msg.data); } catch (err) { return; }
      if (event.type === "settings" && event.voice) $("voice").value = event.voice;
      if (event.type === "ready") loadVoices(); // refused (503) while the daemon was starting
      scheduleRefresh();
    };
    ws.onclose = () => {
      ws = null;
      if (document.body.dataset.auth === "refused") return;
      lost();
    };
  }

  function lost() {
    setConnection("lost");
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 5000);
  }

  // ---------------------------------------------------------------- rendering

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value);
    }
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  }

  function icon(name) {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("class", "icon");
    svg.setAttribute("aria-hidden", "true");
    const use = document.createElementNS("http://www.w3.org/2000/svg", "use");
    use.setAttribute("href", `#i-${name}`);
    svg.append(use);
    return svg;
  }

  function button(name, label, onclick, extra) {
    return el("button", { type: "button", class: `btn small ${extra || ""}`, title: label, "aria-label": label, onclick },
              icon(name), el("span", { text: label }));
  }

  function pill(node, state) {
    node.textContent = t(`state_${state}`);
    node.className = `pill ${STATE_CLASS[state] || ""}`;
  }

  function duration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`
                                       : `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`;
  }

  function kindLabel(item) {
    const base = t(`kind_${item.kind}`);
    return item.amount ? `${base} ${item.amount}${item.currency ? ` ${item.currency}` : ""}` : base;
  }

  function isPaid(item) {
    return PAID.has(item.kind) && item.amount > 0;
  }

  function userKey(item) {
    // the most precise way `ctl mute` names someone: platform:id (names can change or repeat)
    return item.user_id ? `${item.platform}:${item.user_id}` : item.user_name;
  }

  function who(item) {
    return item.user_name || item.user_id || (item.kind === "system" ? t("announcement") : "?");
  }

  function mute(item) {
    const key = userKey(item);
    names.set(key.toLowerCase(), item.user_name);
    return command("POST", "/api/mute", { user: key });
  }

  function render() {
    if (!status) return;
    renderNow();
    renderControls();
    renderQueue();
    renderModeration();
    renderHealth();
    tick();
  }

  function renderNow() {
    const item = status.speaking;
    $("now-body").hidden = !item;
    $("now-idle").hidden = !!item;
    $("now-state").textContent = t("paused");
    $("now-state").className = "pill warn";
    $("now-state").hidden = !status.paused;
    if (!item) return;
    $("now").classList.toggle("paid", isPaid(item));
    $("now-user").textContent = who(item);
    $("now-meta").textContent = [item.platform, kindLabel(item), item.voice || status.voice].filter(Boolean).join(" · ");
    $("now-text").textContent = item.speak || item.text;
    $("now-mute").hidden = !userKey(item) || item.kind === "system";
  }

  function renderControls() {
    $("pause-label").textContent = t(status.paused ? "resume" : "pause");
    $("pause-icon").setAttribute("href", status.paused ? "#i-play" : "#i-pause");
    $("pause").classList.toggle("on", status.paused);
    $("pause").setAttribute("aria-pressed", String(status.paused));
    if (document.activeElement !== $("nfe")) $("nfe").value = status.nfe_step;
    const select = $("voice");
    if (![...select.options].some((o) => o.value === status.voice)) {
      select.append(el("option", { value: status.voice, text: status.voice }));
    }
    if (document.activeElement !== select) select.value = status.voice;
  }

  function renderQueue() {
    $("queue-count").textContent = String(queueItems.length);
    $("queue-empty").hidden = queueItems.length > 0;
    $("queue-list").replaceChildren(...queueItems.map((item) => {
      const speak = item.speak && item.speak !== item.text ? el("p", { class: "spoken-as", text: item.speak }) : null;
      const canMute = item.kind !== "system" && userKey(item);
      return el("li", { class: isPaid(item) ? "paid" : "", "data-id": item.id },
        el("div", { class: "who" }, el("span", { class: "user", text: who(item) }),
           el("span", { class: "kind", text: kindLabel(item) }),
           el("span", { class: "age", "data-age": item.age_s })),
        el("p", { class: "written", text: item.text }), speak,
        el("div", { class: "row" },
           button("remove", t("remove"), () => command("DELETE", `/api/queue/${encodeURIComponent(item.id)}`), "remove"),
           canMute ? button("mute", t("mute_user"), () => mute(item), "mute") : null));
    }));
    for (const item of queueItems) if (item.user_id) names.set(userKey(item).toLowerCase(), item.user_name);
  }

  function chips(list, entries, locked, path, field) {
    const lockedSet = new Set(locked);
    const shown = entries.length ? entries.map((entry) => {
      const label = names.has(entry) && names.get(entry) ? `${names.get(entry)} · ${entry}` : entry;
      if (lockedSet.has(entry)) {
        return el("li", { class: "locked", title: t("locked"), "data-entry": entry }, icon("lock"),
                  el("span", { text: label }));
      }
      return el("li", { "data-entry": entry }, el("span", { text: label }),
                el("button", { type: "button", class: "btn", title: `${t("remove")} ${entry}`,
                               "aria-label": `${t("remove")} ${entry}`,
                               onclick: () => command("POST", path, { [field]: entry }) }, icon("remove")));
    }) : [el("li", { class: "none", text: t("none") })];
    $(list).replaceChildren(...shown);
  }

  function renderModeration() {
    chips("muted", status.muted_users, status.config_muted_users || [], "/api/unmute", "user");
    chips("blocked", status.blocked_words, status.config_blocked_words || [], "/api/unblock", "word");
  }

  function renderHealth() {
    const engine = status.engine || { state: status.ready ? "ready" : "starting", detail: "" };
    pill($("engine"), engine.state);
    $("engine-detail").textContent = engine.detail;
    $("sources").replaceChildren(...status.sources.map((src) => {
      const state = src.state || "running";
      const minute = src.last_minute;
      return el("li", { "data-source": src.name, "data-state": state },
        el("div", { class: "row between" }, el("span", { text: src.name }),
           (() => { const p = el("span"); pill(p, state); return p; })()),
        minute ? el("div", { class: "meta", text: `${t("last_minute")}: ${t("read")} ${minute.read} · ${t("dropped")} `
                                                   + `${minute.dropped} · ${t("unknown")} ${minute.unknown} · `
                                                   + `${t("unparsable")} ${minute.unparsable}` }) : null,
        src.last_error ? el("div", { class: "error", text: `${t("last_error")}: ${src.last_error}` }) : null);
    }));
    const dropped = Object.values(status.drops).reduce((a, b) => a + b, 0);
    const counts = [["waiting", status.queue_depth], ["received", status.received], ["spoken", status.spoken],
                    ["skipped", status.skipped], ["failed", status.failed], ["dropped", dropped]];
    $("counts").replaceChildren(...counts.map(([key, value]) =>
      el("div", { "data-count": key }, el("dt", { text: t(key) }), el("dd", { text: String(value) }))));
    const reasons = Object.entries(status.drops).filter(([, n]) => n).sort((a, b) => b[1] - a[1]);
    $("drops").textContent = reasons.length ? `${t("dropped")}: ${reasons.map(([r, n]) => `${r} ${n}`).join(", ")}`
                                            : t("no_drops");
    $("recent").replaceChildren(...status.recent.slice().reverse().map((m) => el("tr", {},
      el("td", { text: m.user_name || "—", title: m.user_name }), el("td", { text: `${m.audio_s.toFixed(1)}s` }),
      el("td", { text: m.rtf.toFixed(2) }), el("td", { text: `${m.first_audio_s.toFixed(2)}s` }),
      el("td", { text: `${m.latency_s.toFixed(2)}s` }))));
  }

  // elapsed and ages move between events without asking the daemon
  function tick() {
    if (!status) return;
    const since = (performance.now() - fetchedAt) / 1000;
    const item = status.speaking;
    if (item) {
      const length = item.synthesized ? item.audio_s : null;
      const elapsed = Math.min(item.elapsed_s + since, length ?? Infinity);
      $("now-time").textContent = `${duration(elapsed)} / ${length === null ? t("synthesizing") + "…" : duration(length)}`;
      $("now-bar").style.width = length ? `${Math.min(100, (100 * elapsed) / length)}%` : "0";
    }
    for (const age of document.querySelectorAll("#queue-list .age")) {
      age.textContent = duration(Number(age.dataset.age) + since);
    }
  }

  function toast(message, info) {
    const box = $("toast");
    box.textContent = message;
    box.classList.toggle("info", !!info);
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.hidden = true; }, 6000);
  }

  // ---------------------------------------------------------------- actions

  function skip() { return command("POST", "/api/skip"); }
  function togglePause() { return command("POST", status && status.paused ? "/api/resume" : "/api/pause"); }

  function clearQueue() {
    // two clicks within three seconds: a stray click must not empty the queue
    const btn = $("clear");
    if (clearArmed === null) {
      btn.classList.add("armed");
      $("clear-label").textContent = t("clear_confirm");
      clearArmed = setTimeout(disarm, 3000);
      return;
    }
    disarm();
    command("POST", "/api/clear");
  }

  function disarm() {
    clearTimeout(clearArmed);
    clearArmed = null;
    $("clear").classList.remove("armed");
    $("clear-label").textContent = t("clear");
  }

  function setup() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    for (const node of document.querySelectorAll("[data-i18n-placeholder]")) {
      node.placeholder = t(node.dataset.i18nPlaceholder);
    }
    for (const node of document.querySelectorAll("[data-i18n-title]")) node.title = t(node.dataset.i18nTitle);
    $("clear-label").textContent = t("clear");
    $("pause-label").textContent = t("pause");
    $("skip").addEventListener("click", skip);
    $("pause").addEventListener("click", togglePause);
    $("clear").addEventListener("click", clearQueue);
    $("now-mute").addEventListener("click", () => status && status.speaking && mute(status.speaking));
    $("voice").addEventListener("change", (e) => command("POST", "/api/voice", { voice: e.target.value }));
    $("nfe").addEventListener("change", (e) => {
      const n = Number(e.target.value);
      if (Number.isInteger(n) && n >= 1 && n <= 64) command("POST", "/api/nfe", { nfe_step: n });
    });
    $("say").addEventListener("submit", async (e) => {
      e.preventDefault();
      const text = $("say-text").value.trim();
      if (!text) return;
      const answer = await command("POST", "/api/say", { text });
      if (answer && answer.ok) { $("say-text").value = ""; toast(t("done_say"), true); }
      else if (answer) toast(`${t("not_queued")}: ${answer.reason}${answer.detail ? ` (${answer.detail})` : ""}`);
    });
    for (const [form, input, path, field] of [["mute-form", "mute-input", "/api/mute", "user"],
                                              ["block-form", "block-input", "/api/block", "word"]]) {
      $(form).addEventListener("submit", async (e) => {
        e.preventDefault();
        const value = $(input).value.trim();
        if (value && await command("POST", path, { [field]: value })) $(input).value = "";
      });
    }
    document.addEventListener("keydown", (e) => {
      if (e.ctrlKey || e.metaKey || e.altKey || e.repeat || $("app").hidden) return;
      if (e.target.closest && e.target.closest("input, textarea, select")) return;
      const key = e.key.toLowerCase();
      if (key === "s") { e.preventDefault(); skip(); }
      else if (key === "p") { e.preventDefault(); togglePause(); }
    });
    setInterval(tick, 250);
  }

  setup();
  if (!token) {
    showHelp("missing");
  } else {
    $("app").hidden = false;
    setConnection("connecting");
    connect();
  }
})();
