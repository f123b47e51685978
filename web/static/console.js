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
  const $ = (id) => document.getElementById(id);

  // What the page knows; `log` keeps every feed message (tests read it).
  const view = {
    state: "offline", since: 0, reason: "", skew: 0,
    offer: null, call: null, wrapupUntil: 0, extended: false,
    talkingSince: 0, hold: false, muted: false, lastCallSid: "", consult: null,
    // The call whose caller reached the conference ("talking"): holds and
    // transfers wait for it, the carrier has no one to hold before.
    talkingSid: "",
    consultNews: 0,  // how many warm-transfer messages the feed brought
  };
  const log = [];
  // The softphone: a call ringing, the call answered, and whether the
  // hotliner said "accept" before it rang.
  const phone = { device: null, incoming: null, active: null, acceptOnRing: false };
  // The live feed: this origin, or the feed's own port on this host (cookies go along).
  const feedUrl = (setup.feed_url || "") + "/console/events";
  window.hotlineConsole = { log: log, view: view, feedUrl: feedUrl };

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

  let said = 0;  // messages shown so far
  function say(text, isError) {
    const box = $("message");
    box.textContent = text;
    box.hidden = !text;
    box.className = isError ? "message error" : "message";
    said += 1;
  }

  const api = window.hotlineApi;

  // A request that succeeds clears the message shown when it was sent (an
  // earlier error), never one that came meanwhile: the feed may tell of a
  // warm transfer declined before the request that started it has answered.
  function attempt(promise) {
    const before = said;
    return promise.then(function (r) { if (said === before) say(""); return r; },
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
    const handedBy = ctx.transfer
      ? ctx.transfer.by_name + (ctx.transfer.notes ? " — « " + ctx.transfer.notes + " »" : "")
      : "";
    if (ctx.consult && ctx.consult.to === setup.agent) {
      row(dl, T.consult_from, ctx.consult.by_name
        + (ctx.consult.notes ? " — « " + ctx.consult.notes + " »" : ""), "ctx-consult");
    }
    const done = ctx.consult && ctx.consult.to === setup.agent ? ctx.consult.steps
      : ctx.transfer ? ctx.transfer.steps : [];
    if (done && done.length) {
      const list = el("ol", null, "steps-done");
      done.forEach(function (text) { list.appendChild(el("li", text)); });
      row(dl, T.steps_done, list, "ctx-steps-done");
    }
    if (ctx.on_hold) row(dl, T.caller_now, T.on_hold, "ctx-hold");
    if (ctx.scheduled) {
      row(dl, "↩", T.scheduled_callback + " " + handedBy, "ctx-callback");
    } else {
      if (ctx.callback) row(dl, "↩", T.callback_call, "ctx-callback");
      if (ctx.transfer) row(dl, T.transferred_by, handedBy, "ctx-transfer");
    }
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

  // -- shift start: a prompt to go available (or going by itself) ----------------

  // Today's and tomorrow's stretches on duty [start, end) in ms (the rota,
  // exceptions applied). Offline when one begins (or at login during one):
  // the prompt, once per stretch; `auto_available` goes available instead.
  const prompted = {};
  function currentStretch() {
    const t = now();
    return (setup.duty || []).find(function (s) { return s[0] <= t && t < s[1]; });
  }
  function shiftCheck() {
    const stretch = currentStretch();
    const offline = view.state === "offline";
    const prompt = $("shift-prompt");
    if (!stretch || !offline || !setup.configured) { prompt.hidden = true; return; }
    if (setup.auto_available) {
      if (!prompted[stretch[0]]) { prompted[stretch[0]] = true; changeState("available"); }
      return;
    }
    if (!prompt.hidden) return;
    const hhmm = function (ms) {
      return new Date(ms).toLocaleTimeString(setup.lang, { hour: "2-digit", minute: "2-digit" });
    };
    // A stretch of a day or more (round the clock) has no hours to show.
    const long = stretch[1] - stretch[0] >= 24 * 3600 * 1000;
    $("shift-hours").textContent = "(" + (long ? T.shift_always : hhmm(stretch[0]) + "–" + hhmm(stretch[1])) + ")";
    prompt.hidden = false;
  }
  $("shift-go").addEventListener("click", function () { changeState("available"); });

  function tick() {
    $("state-time").textContent = view.since ? T.since + " " + duration(now() - view.since) : "";
    $("call-timer").textContent = view.talkingSince ? duration(now() - view.talkingSince) : "";
    $("wrapup-left").textContent = view.state === "wrapup" && view.wrapupUntil
      ? T.wrapup_left + " " + duration(view.wrapupUntil - now()) : "";
    $("offer-left").textContent = view.offer ? duration(view.offer.expires - now()) : "";
    shiftCheck();
  }
  setInterval(tick, 1000);

  // -- offer pop-up ------------------------------------------------------------

  function showOffer(offer) {
    view.offer = offer;
    $("offer-title-text").textContent = offer.warm ? T.offer_warm_title : T.offer_title;
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
    phone.acceptOnRing = false;
    const dialog = $("offer");
    if (dialog.open) dialog.close();
    ring(false);
  }

  $("offer-accept").addEventListener("click", function () {
    if (phone.incoming) { phone.incoming.accept(); return; }
    // The pop-up can come before the phone rings (two feeds): the phone is
    // answered as soon as it rings for this offer.
    phone.acceptOnRing = !!view.offer;
    say(T.pick_up_phone);
  });
  $("offer-decline").addEventListener("click", function () {
    const offer = view.offer;
    if (!offer) return;
    // The hotline ends the ringing leg itself once it has the decline: a
    // reject from here first would reach it as a missed call (and race the
    // decline). Only if the decline did not get through is the phone rejected.
    const incoming = phone.incoming;
    attempt(api("POST", "/api/offers/" + encodeURIComponent(offer.offer_id) + "/decline"))
      .then(function (r) {
        if (!r && incoming) { try { incoming.reject(); } catch (e) { /* gone */ } }
      });
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
      // The recap starts from the known fault; the hotliner says the rest.
      $("recap-summary").value = ctx.kb_fault ? ctx.kb_fault.title : "";
      $("recap-next").value = ""; $("recap-email").value = "";
      $("recap-sms").checked = true; $("recap-shown").hidden = true;
      // A cold transfer goes to another queue only: not to the one it is in.
      Array.prototype.forEach.call($("transfer-queue").options, function (o) {
        o.disabled = o.value === ctx.queue && $("transfer-mode").value === "cold";
      });
      if ($("transfer-queue").value === ctx.queue) {
        const other = Array.prototype.find.call($("transfer-queue").options, function (o) { return !o.disabled; });
        if (other) $("transfer-queue").value = other.value;
      }
    }
    view.hold = !!ctx.on_hold;
    showConsult(ctx.consult && ctx.consult.by === setup.agent ? ctx.consult : null);
    updateCallButtons();
  }

  // A warm transfer this hotliner asked for: who is rung or on the line.
  function showConsult(consult) {
    view.consult = consult;
    $("consult").hidden = !consult;
    if (!consult) return;
    $("consult-text").textContent = consult.state === "joined"
      ? T.consult_joined + " " + consult.to_name + " : " + T.consult_hint
      : T.consult_ringing + " " + consult.to_name + "…";
    $("consult-complete").disabled = consult.state !== "joined";
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
    const joined = talking && !!view.call
      && (view.call.state === "talking" || view.talkingSid === view.call.call_sid);
    $("hold").disabled = !joined; $("mute").disabled = !joined; $("hangup").disabled = !talking;
    $("transfer").disabled = !joined || !!view.consult;
    // Named specialists and people outside take warm transfers only.
    const cold = $("transfer-mode").value === "cold";
    $("transfer-specialists").disabled = cold;
    if ($("transfer-on-call")) $("transfer-on-call").disabled = cold;
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
  $("callback-form").addEventListener("submit", function (event) {
    event.preventDefault();
    const when = new Date($("callback-at").value).getTime();  // the browser's local time
    const body = { queue: $("callback-queue").value, at: when, notes: $("notes").value };
    attempt(api("POST", "/api/calls/" + encodeURIComponent(currentSid()) + "/callback", body))
      .then(function (r) {
        if (r) say(T.callback_scheduled + " : " + new Date(r.due).toLocaleString(setup.lang));
      });
  });
  $("transfer-mode").addEventListener("change", function () {
    const cold = $("transfer-mode").value === "cold";
    if (cold && $("transfer-queue").value.indexOf(":") > 0) {
      $("transfer-queue").selectedIndex = 0;
    }
    Array.prototype.forEach.call($("transfer-queue").options, function (o) {
      o.disabled = cold && view.call && o.value === view.call.queue;
    });
    updateCallButtons();
  });
  $("transfer-form").addEventListener("submit", function (event) {
    event.preventDefault();
    const to = $("transfer-queue").value;
    const notes = $("notes").value;
    const body = to.indexOf("agent:") === 0 ? { agent: to.slice(6), notes: notes }
      : to.indexOf("oncall:") === 0 ? { on_call: to.slice(7), notes: notes }
      : { queue: to, mode: $("transfer-mode").value, notes: notes };
    // The checklist ticked goes along: the next one does not do it again.
    body.steps = Array.prototype.filter.call(document.querySelectorAll(".agent-step"),
      function (box) { return box.checked; })
      .map(function (box) { return box.parentNode.textContent.trim(); });
    const sid = currentSid();
    const news = view.consultNews;
    attempt(api("POST", "/api/calls/" + encodeURIComponent(sid) + "/transfer", body))
      .then(function (r) {
        if (!r) return;
        if (r.mode === "warm") {
          // The specialist may have answered or declined before this answer
          // came back: the feed has said so already, and has the last word.
          if (view.consultNews !== news) return;
          view.hold = true;
          showConsult({ by: setup.agent, to: r.specialist, to_name: r.specialist_name, state: "ringing" });
          updateCallButtons();
          say("");
        } else {
          say(T.transferred);
        }
      });
  });
  ["complete", "cancel"].forEach(function (step) {
    $("consult-" + step).addEventListener("click", function () {
      const consult = view.consult;
      attempt(api("POST", "/api/calls/" + encodeURIComponent(currentSid()) + "/transfer/" + step))
        .then(function (r) {
          // Said again here: the feed's word may come before this answer.
          if (r && step === "complete" && consult) say(T.consult_done + " " + consult.to_name);
        });
    });
  });

  // -- recap to the caller -------------------------------------------------------

  function recapBody() {
    return { summary: $("recap-summary").value, next_steps: $("recap-next").value };
  }

  $("recap-preview").addEventListener("click", function () {
    const sid = currentSid();
    if (!sid) return;
    attempt(api("POST", "/api/calls/" + encodeURIComponent(sid) + "/recap/preview", recapBody()))
      .then(function (r) {
        if (!r) return;
        $("recap-sms-to").textContent = r.sms_to || T.recap_no_number;
        $("recap-sms-text").textContent = r.sms;
        $("recap-subject").textContent = r.email_subject;
        $("recap-email-text").textContent = r.email_text;
        $("recap-shown").hidden = false;
      });
  });

  $("recap-send").addEventListener("click", function () {
    const sid = currentSid();
    if (!sid) return;
    const body = recapBody();
    body.sms = $("recap-sms").checked;
    body.email = $("recap-email").value.trim();
    attempt(api("POST", "/api/calls/" + encodeURIComponent(sid) + "/recap", body))
      .then(function (r) { if (r) say(T.recap_sent); });
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
        view.talkingSid = msg.call_sid;
        updateCallButtons();
        if (view.call && view.call.consult && view.call.call_sid === msg.call_sid) {
          // A warm transfer handed to this hotliner: the call is theirs now.
          api("GET", "/console/calls/" + encodeURIComponent(msg.call_sid)).then(showCall, function () {});
        }
        break;
      case "hold":
        if (view.call && view.call.call_sid === msg.call_sid) { view.hold = msg.on; updateCallButtons(); }
        break;
      case "consult":
        view.consultNews += 1;
        if (msg.state === "joined") {
          showConsult({ by: setup.agent, to: msg.specialist, to_name: msg.specialist_name, state: "joined" });
        } else if (msg.state === "ended") {
          showConsult(null);
          say(T.consult_ended + " (" + msg.specialist_name + " : "
            + (T["why_" + msg.reason] || msg.reason) + ")", true);
        } else if (msg.state === "done") {
          showConsult(null);
          say(T.consult_done + " " + msg.specialist_name);
        }
        updateCallButtons();
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
          // A warm transfer's specialist let go: the call was never theirs.
          if (msg.reason.indexOf("consult_") === 0) { showCall(null); view.lastCallSid = ""; }
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
    const source = new EventSource(feedUrl, { withCredentials: !!setup.feed_url });
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
    if (phone.acceptOnRing && view.offer) {
      phone.acceptOnRing = false;
      call.accept();
    }
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
