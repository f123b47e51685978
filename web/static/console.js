/* The hotliner's console: live feed (SSE), state bar, offer pop-up, the call,
 * the outcome form, the softphone and "my day".
 *
 * Everything shown comes from JSON and is put in the page with textContent
 * (never innerHTML): what a caller said or typed stays text.
 */
(function () {
  "use strict";

  const setup = JSON.parse(document.getElementById("console-setup").textContent);
  const T = setup.text;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);

  // What the page knows; `log` keeps every feed message (tests read it).
  const view = {
    state: "offline", since: 0, reason: "", skew: 0,
    offer: null, call: null, wrapupUntil: 0, extended: false,
    talkingSince: 0, hold: false, muted: false, lastCallSid: "",
  };
  const log = [];
  window.hotlineConsole = { log: log, view: view };

  // -- helpers ---------------------------------------------------------------

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function now() { return Date.now() + view.skew; }

  function duration(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    const m = Math.floor(s / 60);
    return (m ? m + " min " : "") + (s % 60) + " s";
  }

  function say(text, isError) {
    const box = $("message");
    box.textContent = text;
    box.hidden = !text;
    box.className = isError ? "message error" : "message";
  }

  async function api(method, path, body) {
    const response = await fetch(path, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = {};
    try { data = await response.json(); } catch (e) { data = {}; }
    if (!response.ok) throw new Error(data.error || response.status + " " + response.statusText);
    return data;
  }

  function attempt(promise) {
    return promise.then(function (r) { say(""); return r; },
                        function (e) { say(T.error + " : " + e.message, true); });
  }

  // -- the caller's context (pop-up and call screen) -------------------------

  function row(dl, label, value, cls) {
    const dt = el("dt", label);
    const dd = el("dd");
    if (value instanceof Node) dd.appendChild(value); else dd.textContent = value;
    if (cls) dd.className = cls;
    dl.appendChild(dt);
    dl.appendChild(dd);
  }

  function fillContext(dl, ctx) {
    dl.textContent = "";
    if (!ctx) return;
    row(dl, T.number, ctx.number || T.unknown, "ctx-number");
    row(dl, T.caller_name, ctx.name || T.unknown, "ctx-name");
    row(dl, T.language, ctx.language, "ctx-language");
    row(dl, T.queue, ctx.queue_name, "ctx-queue");
    row(dl, T.priority, String(ctx.priority), "ctx-priority");
    row(dl, T.waited, duration(ctx.waited_seconds * 1000), "ctx-waited");
    const path = el("ol", null, "path");
    (ctx.path || []).forEach(function (step) {
      path.appendChild(el("li", step.node + " : " + (step.how === "said" ? T.said : T.pressed) + " « " + step.what + " »"));
    });
    if (!path.childNodes.length) path.appendChild(el("li", T.no_path));
    row(dl, T.ivr_path, path, "ctx-path");
    row(dl, T.kb_fault, ctx.kb_fault ? ctx.kb_fault.title + " [" + ctx.kb_fault.level + "]" : T.none, "ctx-fault");
    if (ctx.self_help) {
      const tried = el("ol", null, "selfhelp");
      ctx.self_help.steps_tried.forEach(function (s) { tried.appendChild(el("li", s + " — " + T.self_help_failed)); });
      const box = el("div");
      box.appendChild(el("span", ctx.self_help.title));
      box.appendChild(tried);
      row(dl, T.self_help, box, "ctx-selfhelp");
    } else {
      row(dl, T.self_help, T.self_help_none, "ctx-selfhelp");
    }
    const prev = el("ul", null, "previous");
    (ctx.previous_calls || []).forEach(function (c) {
      const when = c.started_at ? new Date(c.started_at).toLocaleString(setup.lang) : "";
      prev.appendChild(el("li", when + " · " + (c.agent_name || "—") + " · " + (c.outcome || "—")));
    });
    if (!prev.childNodes.length) prev.appendChild(el("li", T.no_previous));
    row(dl, T.previous_calls, prev, "ctx-previous");
    row(dl, T.incident, ctx.incident
      ? "« " + (ctx.incident_text || ctx.incident) + " » — " + T.incident_not_theirs
      : T.none, "ctx-incident");
    if (ctx.preferred) row(dl, "★", T.preferred, "ctx-preferred");
    if (ctx.callback) row(dl, "↩", T.callback_call, "ctx-callback");
  }

  // -- state bar ---------------------------------------------------------------

  function setState(state, since, reason) {
    view.state = state;
    view.since = since || now();
    view.reason = reason || "";
    const name = $("state-name");
    name.textContent = T["st_" + state] || state;
    name.dataset.state = state;
    const label = state === "break" ? (setup.break_reasons[view.reason] || view.reason) : "";
    $("state-reason").textContent = label ? "(" + label + ")" : "";
    $("extend-wrapup").hidden = state !== "wrapup" || view.extended;
    // Only the moves the hotline accepts from here (agents.lifecycle); out of
    // wrap-up, the way is the outcome form ("save and ready").
    $("go-available").disabled = ["offline", "break", "away"].indexOf(state) < 0;
    $("go-break").disabled = ["available", "break", "away"].indexOf(state) < 0;
    $("go-offline").disabled = ["available", "break", "away"].indexOf(state) < 0;
    $("wrapup").hidden = !(state === "wrapup" || (view.call && view.call.state === "completed"));
    tick();
  }

  function tick() {
    $("state-time").textContent = view.since ? T.since + " " + duration(now() - view.since) : "";
    $("call-timer").textContent = view.talkingSince ? duration(now() - view.talkingSince) : "";
    $("wrapup-left").textContent = view.state === "wrapup" && view.wrapupUntil
      ? T.wrapup_left + " " + duration(view.wrapupUntil - now()) : "";
    $("offer-left").textContent = view.offer ? duration(view.offer.expires - now()) : "";
  }
  setInterval(tick, 1000);

  // -- offer pop-up ------------------------------------------------------------

  function showOffer(offer) {
    view.offer = offer;
    fillContext($("offer-context"), offer.call);
    $("offer-phone-hint").hidden = !!setup.browser_phone;
    const dialog = $("offer");
    if (!dialog.open) dialog.show();
    ring(true);
    notify(offer);
    tick();
  }

  function hideOffer() {
    view.offer = null;
    const dialog = $("offer");
    if (dialog.open) dialog.close();
    ring(false);
  }

  $("offer-accept").addEventListener("click", function () {
    if (phone.incoming) { phone.incoming.accept(); return; }
    say(T.pick_up_phone);
  });
  $("offer-decline").addEventListener("click", function () {
    const offer = view.offer;
    if (!offer) return;
    if (phone.incoming) { try { phone.incoming.reject(); } catch (e) { /* gone */ } }
    attempt(api("POST", "/api/offers/" + encodeURIComponent(offer.offer_id) + "/decline"));
    hideOffer();
  });

  // Desktop notification and a ring (WebAudio: no sound file, no autoplay
  // surprise: the context is made on the hotliner's first click).
  let audio = null;
  let ringing = null;
  function ring(on) {
    if (ringing) { clearInterval(ringing); ringing = null; }
    if (!on || !audio) return;
    const beep = function () {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.value = 0.08;
      osc.connect(gain); gain.connect(audio.destination);
      osc.start(); osc.stop(audio.currentTime + 0.4);
    };
    beep();
    ringing = setInterval(beep, 1500);
  }
  function notify(offer) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    const ctx = offer.call || {};
    try {
      new Notification(T.offer_title, { body: (ctx.number || "") + " — " + (ctx.queue_name || ""), tag: "hotline-offer" });
    } catch (e) { /* some browsers refuse outside a service worker */ }
  }
  document.addEventListener("click", function () {
    if (!audio && window.AudioContext) audio = new AudioContext();
    if ("Notification" in window && Notification.permission === "default") Notification.requestPermission();
  }, { once: true });

  // -- the call ------------------------------------------------------------------

  function showCall(ctx) {
    const changed = !view.call || !ctx || view.call.call_sid !== ctx.call_sid;
    view.call = ctx;
    $("no-call").hidden = !!ctx;
    $("call-body").hidden = !ctx;
    if (!ctx) { view.talkingSince = 0; return; }
    fillContext($("call-context"), ctx);
    if (changed) {
      view.lastCallSid = ctx.call_sid;
      view.hold = false; view.muted = false; view.extended = false;
      $("notes").value = ""; $("remote").value = "";
      fillSteps(ctx.kb_fault);
      fillFaultChoices(ctx.kb_fault);
    }
    updateCallButtons();
  }

  function fillSteps(fault) {
    const list = $("agent-steps");
    list.textContent = "";
    list.hidden = !fault;
    if (!fault) return;
    fault.agent_steps.forEach(function (text, i) {
      const item = el("li");
      const label = el("label");
      const box = document.createElement("input");
      box.type = "checkbox"; box.value = String(i); box.className = "agent-step";
      label.appendChild(box);
      label.appendChild(document.createTextNode(" " + text));
      item.appendChild(label);
      list.appendChild(item);
    });
  }

  function fillFaultChoices(fault) {
    const select = $("fixed-by");
    select.textContent = "";
    select.appendChild(el("option", "—"));
    select.firstChild.value = "";
    if (fault) addFaultChoice(fault.id, fault.title, true);
  }

  function addFaultChoice(id, title, selected) {
    const select = $("fixed-by");
    for (const option of select.options) { if (option.value === id) { if (selected) select.value = id; return; } }
    const option = el("option", title);
    option.value = id;
    select.appendChild(option);
    if (selected) select.value = id;
  }

  function updateCallButtons() {
    $("hold").textContent = view.hold ? T.unhold : T.hold;
    $("mute").textContent = view.muted ? T.unmute : T.mute;
    const talking = view.state === "busy";
    $("hold").disabled = !talking; $("mute").disabled = !talking; $("hangup").disabled = !talking;
  }

  function currentSid() { return view.call ? view.call.call_sid : view.lastCallSid; }

  $("hold").addEventListener("click", function () {
    const on = !view.hold;
    attempt(api("POST", "/api/calls/" + encodeURIComponent(currentSid()) + "/hold", { on: on })
      .then(function () { view.hold = on; updateCallButtons(); }));
  });
  $("mute").addEventListener("click", function () {
    const on = !view.muted;
    attempt(api("POST", "/api/calls/" + encodeURIComponent(currentSid()) + "/mute", { on: on })
      .then(function () { view.muted = on; updateCallButtons(); }));
  });
  $("hangup").addEventListener("click", function () {
    attempt(api("POST", "/api/calls/" + encodeURIComponent(currentSid()) + "/hangup"));
  });

  $("outcome-form").addEventListener("submit", function (event) {
    event.preventDefault();
    const sid = currentSid();
    if (!sid) return;
    const steps = Array.prototype.map.call(
      document.querySelectorAll(".agent-step:checked"), function (b) { return Number(b.value); });
    const body = {
      agent_id: setup.agent,
      outcome: document.querySelector('input[name="outcome"]:checked').value,
      notes: $("notes").value,
      remote: $("remote").value,
      fixed_by: $("fixed-by").value,
      steps: steps,
    };
    attempt(api("POST", "/api/calls/" + encodeURIComponent(sid) + "/outcome", body).then(function (r) {
      if (!r) return;
      say(T.saved);
      view.call = null; view.lastCallSid = ""; view.talkingSince = 0;
      showCall(null);
      $("wrapup").hidden = true;
      refreshDaySoon();
    }));
  });

  $("extend-wrapup").addEventListener("click", function () {
    attempt(api("POST", "/api/agents/" + encodeURIComponent(setup.agent) + "/wrapup/extend").then(function (r) {
      if (!r) return;
      view.extended = true; view.wrapupUntil = r.wrapup_until;
      $("extend-wrapup").hidden = true;
    }));
  });

  // -- state buttons ---------------------------------------------------------------

  function changeState(state, reason) {
    const body = { state: state };
    if (reason) body.reason = reason;
    return attempt(api("POST", "/api/agents/" + encodeURIComponent(setup.agent) + "/state", body));
  }
  $("go-available").addEventListener("click", function () { changeState("available"); });
  $("go-break").addEventListener("click", function () { changeState("break", $("break-reason").value); });
  $("go-offline").addEventListener("click", function () { changeState("offline"); });

  // -- knowledge base search ---------------------------------------------------------

  $("kb-form").addEventListener("submit", function (event) {
    event.preventDefault();
    const q = $("kb-q").value;
    attempt(api("GET", "/console/kb?q=" + encodeURIComponent(q) + "&lang=" + setup.lang).then(function (r) {
      const list = $("kb-results");
      list.textContent = "";
      if (!r) return;
      if (!r.faults.length) list.appendChild(el("li", T.no_results, "muted"));
      r.faults.forEach(function (f) {
        const item = el("li");
        item.appendChild(el("strong", f.title));
        item.appendChild(el("span", " [" + f.level + "] · " + T.fixed_count + " " + f.fixed + " " + T.calls_word, "muted"));
        const steps = el("ol");
        f.agent_steps.forEach(function (s) { steps.appendChild(el("li", s)); });
        item.appendChild(steps);
        if (view.call || view.lastCallSid) {
          const use = el("button", T.use_fault);
          use.type = "button";
          use.addEventListener("click", function () {
            addFaultChoice(f.id, f.title, true);
            fillSteps({ id: f.id, title: f.title, agent_steps: f.agent_steps });
          });
          item.appendChild(use);
        }
        list.appendChild(item);
      });
    }));
  });

  // -- my day ------------------------------------------------------------------------

  function callLine(c) {
    const when = c.started_at ? new Date(c.started_at).toLocaleTimeString(setup.lang) : "";
    return when + " · " + (c.number || "") + " · " + (setup.dispositions[c.outcome] || c.outcome || "—") +
      (c.notes ? " · " + c.notes : "");
  }
  // The call log is written a moment after each change (the worker follows
  // the event stream into SQL): after a call, look again until it shows.
  let dayTimers = [];
  function refreshDaySoon() {
    dayTimers.forEach(clearTimeout);
    dayTimers = [500, 2000, 5000, 10000].map(function (ms) { return setTimeout(loadDay, ms); });
  }

  function loadDay() {
    return api("GET", "/console/day").then(function (d) {
      $("day-handled").textContent = String(d.handled);
      $("day-aht").textContent = d.average_handle_seconds === null ? "—" : duration(d.average_handle_seconds * 1000);
      const last = $("day-last"); last.textContent = "";
      d.last_calls.forEach(function (c) { last.appendChild(el("li", callLine(c))); });
      if (!d.last_calls.length) last.appendChild(el("li", T.nothing));
      const missing = $("day-missing"); missing.textContent = "";
      d.to_complete.forEach(function (c) {
        const item = el("li", callLine(c));
        const fix = el("button", T.outcome);
        fix.type = "button";
        fix.addEventListener("click", function () {
          view.lastCallSid = c.call_sid;
          $("notes").value = c.notes || "";
          $("wrapup").hidden = false;
          $("outcome-form").scrollIntoView();
        });
        item.appendChild(fix);
        missing.appendChild(item);
      });
      if (!d.to_complete.length) missing.appendChild(el("li", T.nothing));
    }, function () { /* the call log may be away: the rest of the page works */ });
  }

  // -- live feed ---------------------------------------------------------------------

  function handle(msg) {
    switch (msg.type) {
      case "snapshot":
        view.skew = msg.server_ms - Date.now();
        if (msg.offer) showOffer(msg.offer); else hideOffer();
        if (msg.call) showCall(msg.call);
        if (msg.wrapup_until) view.wrapupUntil = msg.wrapup_until;
        if (msg.state === "busy") view.talkingSince = view.talkingSince || msg.since;
        setState(msg.state, msg.since, msg.reason);
        break;
      // Reserving, accepting and an offer's end move the hotliner's state in
      // the same step, without a state message of their own.
      case "offer":
        showOffer(msg);
        setState("reserved", msg.at);
        break;
      case "offer_gone":
        if (view.offer && view.offer.call_sid === msg.call_sid) hideOffer();
        if (view.state === "reserved") setState("available", msg.at);
        break;
      case "accepted":
        if (view.offer && view.offer.call_sid === msg.call_sid && view.offer.call) {
          showCall(view.offer.call);
        } else {
          api("GET", "/console/calls/" + encodeURIComponent(msg.call_sid)).then(showCall, function () {});
        }
        hideOffer();
        view.talkingSince = msg.at;
        setState("busy", msg.at);
        updateCallButtons();
        break;
      case "talking":
        view.talkingSince = msg.at;
        break;
      case "call_ended":
        view.talkingSince = 0;
        if (view.call && view.call.call_sid === msg.call_sid) view.call.state = "completed";
        break;
      case "outcome":
        break;
      case "state":
        if (msg.state === "wrapup" && msg.wrapup_until) view.wrapupUntil = msg.wrapup_until;
        if (msg.reason === "extended") view.extended = true;
        if (msg.state === "busy" && !view.talkingSince) view.talkingSince = msg.at;
        if (msg.state === "available" || msg.state === "offline") {
          if (msg.from === "wrapup") { showCall(null); view.lastCallSid = ""; refreshDaySoon(); }
        }
        if (msg.state !== "reserved") hideOffer();
        setState(msg.state, msg.at, msg.reason);
        updateCallButtons();
        break;
      default:
        break;
    }
  }

  function connect() {
    const source = new EventSource("/console/events");
    source.onopen = function () {
      $("feed-state").textContent = T.live;
      $("feed-state").dataset.live = "1";
    };
    source.onerror = function () {
      // EventSource reconnects by itself, sending Last-Event-ID.
      $("feed-state").textContent = T.reconnecting;
      $("feed-state").dataset.live = "0";
    };
    source.onmessage = function (event) {
      const msg = JSON.parse(event.data);
      log.push({ id: event.lastEventId, type: msg.type, call_sid: msg.call_sid || "", at: Date.now() });
      handle(msg);
    };
    window.hotlineConsole.source = source;
  }

  // -- softphone -------------------------------------------------------------------------

  const phone = { device: null, incoming: null, active: null };
  window.hotlineConsole.phone = phone;

  function phoneStatus(status) {
    const node = $("phone-status");
    if (!node) return;
    node.dataset.status = status;
    node.textContent = T["phone_" + status] || status;
    $("phone-answer").disabled = status !== "ringing";
    $("phone-hangup").disabled = status !== "ringing" && status !== "in_call";
  }

  function watchCall(call) {
    phone.incoming = call;
    phoneStatus("ringing");
    call.on("accept", function () { phone.active = call; phone.incoming = null; phoneStatus("in_call"); });
    ["cancel", "reject", "disconnect"].forEach(function (name) {
      call.on(name, function () {
        if (phone.incoming === call) phone.incoming = null;
        if (phone.active === call) phone.active = null;
        phoneStatus("ready");
      });
    });
  }

  async function startPhone() {
    if (!setup.browser_phone) return;
    const DeviceClass = setup.simulated ? window.HotlineSimDevice : (window.Twilio && window.Twilio.Device);
    if (!DeviceClass) { say(T.error + " : softphone", true); return; }
    let token;
    try { token = await api("GET", "/console/token"); } catch (e) { say(T.error + " : " + e.message, true); return; }
    const device = setup.simulated
      ? new DeviceClass(token.token, { carrierUrl: setup.carrier_url })
      : new DeviceClass(token.token, { closeProtection: true });
    phone.device = device;
    device.on("registered", function () { phoneStatus("ready"); });
    device.on("unregistered", function () { phoneStatus("off"); });
    device.on("error", function (e) { say(T.error + " : " + (e && e.message ? e.message : e), true); });
    device.on("incoming", watchCall);
    device.register();
    setInterval(function () {
      api("GET", "/console/token").then(function (t) { device.updateToken(t.token); }, function () {});
    }, Math.max(60, token.ttl - 120) * 1000);
  }

  if ($("phone-answer")) {
    $("phone-answer").addEventListener("click", function () { if (phone.incoming) phone.incoming.accept(); });
    $("phone-hangup").addEventListener("click", function () {
      if (phone.active) phone.active.disconnect();
      else if (phone.incoming) phone.incoming.reject();
    });
    $("dtmf-form").addEventListener("submit", function (event) {
      event.preventDefault();
      const digits = $("dtmf").value;
      if (phone.active && /^[0-9*#]+$/.test(digits)) { phone.active.sendDigits(digits); $("dtmf").value = ""; }
    });
  }

  connect();
  startPhone();
  loadDay();
})();
