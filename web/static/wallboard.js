/* The supervisors' wallboard: one board (JSON) per change, from the feed (SSE).
 *
 * Everything shown is put in the page with textContent (never innerHTML).
 * Clocks (time in state, waits, durations) tick here every second from the
 * board's epoch-ms origins, corrected by the server's clock skew.
 */
(function () {
  "use strict";

  const setup = JSON.parse(document.getElementById("board-setup").textContent);
  const en = setup.lang === "en-US";
  const feedUrl = (setup.feed_url || "") + "/supervisor/events?lang=" + setup.lang;
  const $ = (id) => document.getElementById(id);
  const STATES = en
    ? { available: "available", reserved: "ringing", busy: "on a call", wrapup: "wrap-up",
        break: "break", away: "away", offline: "offline" }
    : { available: "disponible", reserved: "sonne", busy: "en appel", wrapup: "post-appel",
        break: "pause", away: "absent", offline: "déconnecté" };
  let board = null;
  let skew = 0;
  const seen = [];
  window.hotlineBoard = { seen: seen, get board() { return board; } };

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function duration(ms) {
    if (ms === null || ms === undefined || ms < 0) return "—";
    const s = Math.floor(ms / 1000);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const two = (n) => String(n).padStart(2, "0");
    return h ? h + ":" + two(m) + ":" + two(r) : m + ":" + two(r);
  }

  function percent(x) {
    return x === null || x === undefined ? "—" : (x * 100).toFixed(0) + " %";
  }

  function now() { return Date.now() + skew; }

  function row(cells) {
    const tr = document.createElement("tr");
    for (const cell of cells) {
      const td = document.createElement("td");
      if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell;
      tr.appendChild(td);
    }
    return tr;
  }

  function clock(since, cls) {
    const span = el("span", duration(since ? now() - since : null), cls);
    if (since) span.dataset.since = String(since);
    return span;
  }

  function render() {
    if (!board) return;
    const b = board;
    const queues = $("queues").tBodies[0];
    queues.replaceChildren();
    let waiting = 0, oldest = null;
    for (const q of b.queues) {
      waiting += q.waiting;
      if (q.oldest_since && (!oldest || q.oldest_since < oldest)) oldest = q.oldest_since;
      const name = el("span", q.name);
      const cell = el("span");
      cell.appendChild(name);
      if (q.override === "closed") cell.appendChild(el("span", en ? "closed by hand" : "fermée à la main", "closed"));
      const sl = el("span", percent(q.service_level) + " / " + percent(q.target), "rag rag-" + q.rag);
      const cells = [
        cell,
        el("span", q.waiting, q.waiting ? "waiting-some" : ""),
        clock(q.oldest_since),
        sl,
        percent(q.abandon_rate),
        q.asa_seconds === null ? "—" : q.asa_seconds + " s",
        q.offered + " / " + q.answered,
        String(q.callbacks_pending),
      ];
      if (!setup.tv) cells.push(queueButton(q));
      const tr = row(cells);
      tr.dataset.queue = q.id;
      queues.appendChild(tr);
    }
    $("t-waiting").textContent = String(waiting);
    $("t-longest").replaceChildren(clock(oldest));
    $("t-ivr").textContent = String(b.in_ivr);
    $("t-calls").textContent = String(b.calls.length);
    $("t-available").textContent = String(b.states.available || 0);

    const people = $("hotliners").tBodies[0];
    people.replaceChildren();
    for (const h of b.hotliners) {
      const state = el("span", STATES[h.state] || h.state, "state state-" + h.state);
      const why = h.state === "break" && h.reason ? (b.break_reasons[h.reason] || h.reason) : "";
      if (why && why.toLowerCase() !== state.textContent.toLowerCase()) {
        state.textContent += " · " + why;
      }
      const name = el("span", h.name);
      if (h.skills_changed) name.appendChild(el("span", en ? "skills changed" : "compétences du jour", "changed"));
      if (h.late) {
        // The time the shift ended, with its day if not today.
        const end = new Date(h.off_shift_since);
        const locale = en ? "en-GB" : "fr-FR";
        const sameDay = end.toDateString() === new Date().toDateString();
        const ended = (sameDay ? "" : end.toLocaleDateString(locale, { weekday: "short", day: "numeric", month: "short" }) + " ")
          + end.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" });
        name.appendChild(el("span", (en ? "shift ended " : "fin de service ") + ended, "late"));
      }
      const cells = [name, state, clock(h.since), String(h.calls_today), h.caller];
      if (!setup.tv) cells.push(rowButton(en ? "Steer" : "Piloter", "steer", function () { openAgent(h); }));
      const tr = row(cells);
      tr.dataset.agent = h.id;
      tr.dataset.state = h.state;
      if (h.late) tr.classList.add("late");
      people.appendChild(tr);
    }
    const counts = Object.entries(b.states).map(([s, n]) => (STATES[s] || s) + " " + n);
    $("by-state").textContent = counts.join(" · ");

    const calls = $("calls").tBodies[0];
    calls.replaceChildren();
    for (const c of b.calls) {
      const cells = [c.caller, queueName(c.queue), c.agent, clock(c.since)];
      if (!setup.tv) cells.push(rowButton(en ? "Listen" : "Écouter", "listen", function () { openListen(c); }));
      const tr = row(cells);
      tr.dataset.call = c.call_sid;
      calls.appendChild(tr);
    }
    const waitingRows = $("waiting").tBodies[0];
    waitingRows.replaceChildren();
    for (const w of b.waiting) {
      const cells = [w.caller, queueName(w.queue), String(w.priority), clock(w.since)];
      if (!setup.tv) {
        const move = rowButton(en ? "Move" : "Déplacer", "move", function () { openMove(w); });
        move.disabled = w.offered;  // being offered: it rings a hotliner now
        cells.push(move);
      }
      const tr = row(cells);
      tr.dataset.call = w.call_sid;
      waitingRows.appendChild(tr);
    }
    if (!b.waiting.length) {
      const none = row([en ? "nobody" : "personne"]);
      none.firstChild.colSpan = setup.tv ? 4 : 5;
      waitingRows.appendChild(none);
    }
    const faults = $("faults");
    faults.replaceChildren();
    for (const f of b.faults) faults.appendChild(el("li", f.fault + " — " + f.calls));
    if (!b.faults.length) faults.appendChild(el("li", en ? "none" : "aucune"));

    const incident = $("incident");
    if (b.incident) {
      incident.hidden = false;
      incident.textContent = (en ? "Incident announced to callers: « " : "Incident annoncé aux appelants : « ")
        + b.incident.text + " » — " + b.incident.confirmations
        + (en ? " caller(s) concerned" : " appelant(s) concerné(s)");
    } else {
      incident.hidden = true;
      incident.textContent = "";
    }
    $("no-figures").hidden = b.figures;
    if (!setup.tv) renderAudit(b.audit, b.break_reasons);
    renderCharts(b.charts);
  }

  // -- controls (not in TV mode): each one goes to the audit log -------------

  const ACTIONS = en
    ? { incident_published: "incident published", incident_resolved: "incident over",
        queue_override: "queue", agent_state: "hotliner's state", agent_skills: "skills of",
        caller_moved: "caller moved", call_listen: "listening to", call_whisper: "whispering on",
        call_barge: "barged in on", call_listen_end: "left the call",
        rota_exception_added: "rota exception for", rota_exception_removed: "rota exception removed for",
        rota_shifts: "weekly shifts of" }
    : { incident_published: "incident publié", incident_resolved: "fin de l'incident",
        queue_override: "file", agent_state: "état d'un téléassistant", agent_skills: "compétences de",
        caller_moved: "appelant déplacé", call_listen: "écoute de", call_whisper: "souffle sur",
        call_barge: "intervention sur", call_listen_end: "sortie de l'appel",
        rota_exception_added: "exception au planning de", rota_exception_removed: "exception retirée du planning de",
        rota_shifts: "services de la semaine de" };

  const api = window.hotlineApi;

  function queueName(id) {
    const q = board && board.queues.find(function (x) { return x.id === id; });
    return q ? q.name : id;
  }

  // A row's action opens a dialog: rows are drawn again at every board, a
  // dialog is not, so what the supervisor types there stays.
  function rowButton(label, cls, open) {
    const button = el("button", label, "row-action " + cls);
    button.type = "button";
    button.addEventListener("click", open);
    return button;
  }

  function result(text, bad) {
    const node = $("control-result");
    node.textContent = text;
    node.className = "result" + (bad ? " bad" : "");
  }

  function queueButton(q) {
    const closing = q.override !== "closed";
    const button = el("button", closing ? (en ? "Close" : "Fermer") : (en ? "Reopen" : "Rouvrir"));
    button.type = "button";
    button.dataset.queue = q.id;
    button.addEventListener("click", function () {
      if (!closing) {
        api("POST", "/api/queues/" + q.id + "/override", { state: "schedule" })
          .then(function () { result((en ? "Back to its hours: " : "Rendue à ses horaires : ") + q.name); })
          .catch(function (e) { result(e.message, true); });
        return;
      }
      pendingQueue = q;
      $("queue-dialog-title").textContent = (en ? "Close now: " : "Fermer maintenant : ") + q.name;
      $("queue-reason").value = "";
      $("queue-dialog").showModal();
    });
    return button;
  }

  let pendingQueue = null;

  const OVERRIDES = en
    ? { open: "open", closed: "closed" }
    : { open: "ouverte", closed: "fermée" };

  function renderAudit(entries, reasons) {
    const body = $("audit").tBodies[0];
    body.replaceChildren();
    for (const e of entries || []) {
      let what = ACTIONS[e.action] || e.action;
      if (e.target !== "incident") what += " " + e.target;
      if (e.after && e.after.override !== undefined) {
        what += " → " + (OVERRIDES[e.after.override] || (en ? "its hours" : "ses horaires"));
      } else if (e.after && e.after.state) {
        what += " → " + (STATES[e.after.state] || e.after.state);
      } else if (e.after && e.after.skills) {
        what += " → " + skillsText(e.after.skills);
      } else if (e.action === "caller_moved" && e.after) {
        what += " → " + queueName(e.after.queue) + " (" + (en ? "priority " : "priorité ") + e.after.priority + ")";
      }
      const why = e.action === "agent_state" ? (reasons[e.reason] || e.reason) : e.reason;
      const tr = row([new Date(e.at).toLocaleTimeString(setup.lang), e.actor, what, why || ""]);
      tr.dataset.action = e.action;
      body.appendChild(tr);
    }
  }

  if (!setup.tv) {
    $("incident-publish").addEventListener("click", function () {
      const messages = {};
      for (const area of document.querySelectorAll("#incident-control textarea")) {
        messages[area.dataset.lang] = area.value.trim();
      }
      api("POST", "/api/incident", { messages: messages })
        .then(function () { result(en ? "Incident published." : "Incident publié."); })
        .catch(function (e) { result(e.message, true); });
    });
    $("incident-resolve").addEventListener("click", function () {
      api("DELETE", "/api/incident")
        .then(function (r) { result((en ? "Incident over; texts sent: " : "Incident clos ; SMS envoyés : ") + r.texted); })
        .catch(function (e) { result(e.message, true); });
    });
    $("queue-cancel").addEventListener("click", function () { $("queue-dialog").close(); });
    $("queue-form").addEventListener("submit", function (event) {
      event.preventDefault();
      const q = pendingQueue;
      const reason = $("queue-reason").value.trim();
      if (!q || !reason) return;
      $("queue-dialog").close();
      api("POST", "/api/queues/" + q.id + "/override", { state: "closed", reason: reason })
        .then(function () { result((en ? "Closed: " : "Fermée : ") + q.name); })
        .catch(function (e) { result(e.message, true); });
    });
  }

  function skillsText(skills) {
    return Object.keys(skills).sort().map(function (k) { return k + " " + skills[k]; }).join(", ");
  }

  // -- a call: listen, whisper, barge in ---------------------------------------
  let listenCall = null;

  function openListen(c) {
    listenCall = c;
    $("listen-title").textContent = (en ? "Call of " : "Appel de ") + c.caller + " — " + c.agent;
    $("listen-dialog").showModal();
  }

  if (!setup.tv) {
    $("listen-form").addEventListener("submit", function (event) {
      event.preventDefault();
      const c = listenCall;
      if (!c) return;
      const body = { mode: document.querySelector('input[name="listen-mode"]:checked').value };
      const to = $("listen-to").value.trim();
      if (to) body.to = to;
      api("POST", "/api/calls/" + encodeURIComponent(c.call_sid) + "/listen", body)
        .then(function (r) {
          $("listen-dialog").close();
          result((en ? "On the call of " : "Sur l'appel de ") + c.caller + " : " + r.mode);
        })
        .catch(function (e) { $("listen-dialog").close(); result(e.message, true); });
    });
    $("listen-end").addEventListener("click", function () {
      const c = listenCall;
      if (!c) return;
      $("listen-dialog").close();
      api("POST", "/api/calls/" + encodeURIComponent(c.call_sid) + "/listen/end")
        .then(function () { result((en ? "Left the call of " : "Sorti de l'appel de ") + c.caller); })
        .catch(function (e) { result(e.message, true); });
    });
    $("listen-close").addEventListener("click", function () { $("listen-dialog").close(); });
  }

  // -- a waiting caller: another queue, another priority ---------------------------
  let moveCall = null;

  function openMove(w) {
    moveCall = w;
    $("move-title").textContent = (en ? "Caller " : "Appelant ") + w.caller;
    const select = $("move-queue");
    select.replaceChildren();
    for (const q of board.queues) {
      const option = el("option", q.name);
      option.value = q.id;
      select.appendChild(option);
    }
    select.value = w.queue;
    $("move-priority").value = String(w.priority);
    $("move-dialog").showModal();
  }

  if (!setup.tv) {
    $("move-form").addEventListener("submit", function (event) {
      event.preventDefault();
      const w = moveCall;
      if (!w) return;
      const body = {};
      if ($("move-queue").value !== w.queue) body.queue = $("move-queue").value;
      const priority = Number($("move-priority").value);
      if (priority !== w.priority) body.priority = priority;
      $("move-dialog").close();
      if (!Object.keys(body).length) return;
      api("POST", "/api/calls/" + encodeURIComponent(w.call_sid) + "/queue", body)
        .then(function (r) {
          result((en ? "Moved: " : "Déplacé : ") + w.caller + " → " + queueName(r.queue)
            + " (" + (en ? "priority " : "priorité ") + r.priority + ")");
        })
        .catch(function (e) { result(e.message, true); });
    });
    $("move-close").addEventListener("click", function () { $("move-dialog").close(); });
  }

  // -- a hotliner: their state, their skills today ---------------------------
  let steered = null;

  function openAgent(h) {
    steered = h;
    $("agent-title").textContent = h.name + " — " + (STATES[h.state] || h.state);
    const reasons = $("agent-break-reason");
    reasons.replaceChildren();
    for (const [id, label] of Object.entries(board.break_reasons)) {
      const option = el("option", label);
      option.value = id;
      reasons.appendChild(option);
    }
    $("agent-skills-note").textContent = h.skills_changed
      ? (en ? "Changed from the roster's today." : "Modifiées par rapport au planning aujourd'hui.")
      : (en ? "As in the roster (hotliners.yaml)." : "Celles du planning (hotliners.yaml).");
    const body = $("agent-skills").tBodies[0];
    body.replaceChildren();
    for (const skill of setup.skills) {
      const box = document.createElement("input");
      box.type = "checkbox";
      box.id = "skill-" + skill;
      box.checked = skill in h.skills;
      const label = el("label", " " + skill);
      label.htmlFor = box.id;
      label.prepend(box);
      const level = document.createElement("select");
      level.id = "level-" + skill;
      level.setAttribute("aria-label", (en ? "level of " : "niveau de ") + skill);
      for (let n = 1; n <= 5; n++) {
        const option = el("option", String(n));
        option.value = String(n);
        level.appendChild(option);
      }
      level.value = String(h.skills[skill] || 1);
      const tr = row([label, level]);
      tr.dataset.skill = skill;
      body.appendChild(tr);
    }
    $("agent-dialog").showModal();
  }

  function steer(method, path, body, said) {
    const h = steered;
    if (!h) return;
    $("agent-dialog").close();
    api(method, "/api/agents/" + encodeURIComponent(h.id) + path, body)
      .then(function (r) { result(h.name + " : " + said(r)); })
      .catch(function (e) { result(e.message, true); });
  }

  if (!setup.tv) {
    for (const id of ["agent-available", "agent-break", "agent-offline"]) {
      $(id).addEventListener("click", function () {
        const state = $(id).dataset.state;
        const body = { state: state };
        if (state === "break") body.reason = $("agent-break-reason").value;
        steer("POST", "/state", body, function (r) { return STATES[r.state] || r.state; });
      });
    }
    $("agent-form").addEventListener("submit", function (event) {
      event.preventDefault();
      const skills = {};
      for (const skill of setup.skills) {
        if ($("skill-" + skill).checked) skills[skill] = Number($("level-" + skill).value);
      }
      steer("PUT", "/skills", { skills: skills }, function (r) { return skillsText(r.skills); });
    });
    $("agent-skills-reset").addEventListener("click", function () {
      steer("DELETE", "/skills", undefined, function (r) { return skillsText(r.skills); });
    });
    $("agent-close").addEventListener("click", function () { $("agent-dialog").close(); });
  }

  // -- charts (uPlot, vendored): redrawn only when their figures change ------
  const charts = { volume: null, sl: null, drawn: "" };

  function hourTicks(u, splits) {
    return splits.map((i) => (i % 2 === 0 && i >= 0 && i < 48 ? String(i / 2).padStart(2, "0") + "h" : ""));
  }

  function chartOptions(id, series, yValues, yRange) {
    const box = $(id);
    return {
      width: Math.max(320, box.clientWidth - 16),
      height: setup.tv ? 260 : 200,
      series: [{
        label: en ? "half hour" : "demi-heure",
        value: (u, i) => (i === null ? "--" : String(Math.floor(i / 2)).padStart(2, "0") + (i % 2 ? ":30" : ":00")),
      }].concat(series),
      axes: [
        { values: hourTicks, space: 30, incrs: [2, 4, 6] },
        yValues ? { values: yValues } : {},
      ],
      scales: yRange ? { x: { time: false }, y: { range: yRange } } : { x: { time: false } },
      legend: { show: true },
      cursor: { show: !setup.tv },
    };
  }

  function renderCharts(c) {
    if (!c || typeof uPlot === "undefined") return;
    const key = JSON.stringify(c);
    if (key === charts.drawn) return;
    charts.drawn = key;
    const x = c.labels.map((_, i) => i);
    const volume = [x, c.today.offered, c.today.answered, c.today.abandoned, c.last_week.offered];
    const pct = (v) => (v === null ? null : Math.round(v * 1000) / 10);
    const sl = [x, c.today.service_level.map(pct), x.map(() => Math.round(c.target * 1000) / 10)];
    if (!charts.volume) {
      charts.volume = new uPlot(chartOptions("chart-volume", [
        { label: en ? "offered" : "présentés", stroke: "#2f6fd6", width: 2, points: { show: false } },
        { label: en ? "answered" : "répondus", stroke: "#2e9e5b", width: 2, points: { show: false } },
        { label: en ? "abandoned" : "abandonnés", stroke: "#d9442b", width: 2, points: { show: false } },
        { label: (en ? "offered on " : "présentés le ") + c.last_week_day, stroke: "#8a97a8", width: 1.5, dash: [6, 4], points: { show: false } },
      ]), volume, $("chart-volume"));
      charts.sl = new uPlot(chartOptions("chart-sl", [
        { label: en ? "service level %" : "niveau de service %", stroke: "#2f6fd6", width: 2, spanGaps: false, points: { show: true, size: 5 } },
        { label: en ? "target %" : "objectif %", stroke: "#d9822b", width: 1.5, dash: [6, 4], points: { show: false } },
      ], (u, v) => v.map((n) => n + " %"), [0, 100]), sl, $("chart-sl"));
    } else {
      charts.volume.setData(volume);
      charts.sl.setData(sl);
    }
  }

  function tick() {
    for (const span of document.querySelectorAll("[data-since]")) {
      span.textContent = duration(now() - Number(span.dataset.since));
    }
    $("clock").textContent = new Date(now()).toLocaleTimeString(setup.lang);
  }

  function connect() {
    const source = new EventSource(feedUrl, { withCredentials: !!setup.feed_url });
    source.onopen = function () { $("link").dataset.state = "live"; $("link").textContent = en ? "live" : "en direct"; };
    source.onerror = function () {
      // EventSource reconnects by itself (TV mode never needs a hand).
      $("link").dataset.state = "lost";
      $("link").textContent = en ? "reconnecting…" : "reconnexion…";
    };
    source.onmessage = function (message) {
      board = JSON.parse(message.data);
      skew = board.at - Date.now();
      seen.push({ at: Date.now(), board: board });
      if (seen.length > 50) seen.shift();
      render();
      tick();
    };
  }

  connect();
  setInterval(tick, 1000);
})();
