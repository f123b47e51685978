// The "try it" phone page: places a simulated call and follows it by polling
// /phone/api/calls/<sid>/events. Plain JavaScript, no dependency, no build step.
"use strict";

(function () {
  const API = "/phone/api/calls";
  const POLL_MS = 300;
  const $ = (id) => document.getElementById(id);

  const els = {
    dialForm: $("dial-form"), caller: $("caller"), call: $("call"),
    status: $("status"), badge: $("status-badge"), statusText: $("status-text"),
    typed: $("typed"), keypad: $("keypad"), speechForm: $("speech-form"),
    phrase: $("phrase"), hangup: $("hangup"), mute: $("mute"),
    voiceNote: $("voice-note"), transcript: $("transcript"), empty: $("empty"),
  };

  let sid = null;        // the current call
  let next = 0;          // first transcript entry not shown yet
  let live = false;
  let timer = null;
  let lastState = null;

  // Speech synthesis: optional (absent in headless browsers), never fatal.
  const synth = ("speechSynthesis" in window && "SpeechSynthesisUtterance" in window)
    ? window.speechSynthesis : null;
  if (!synth) els.voiceNote.hidden = false;
  els.mute.checked = localStorage.getItem("hotline.phone.mute") === "1";
  els.mute.addEventListener("change", () => {
    localStorage.setItem("hotline.phone.mute", els.mute.checked ? "1" : "0");
    if (els.mute.checked) silence();
  });

  function speak(text, language) {
    if (!synth || els.mute.checked) return;
    try {
      const utterance = new SpeechSynthesisUtterance(text);
      utterance.lang = language || "fr-FR";
      synth.speak(utterance);
    } catch (err) {
      console.warn("speech synthesis failed", err);
    }
  }

  function silence() {
    try { if (synth) synth.cancel(); } catch (err) { /* nothing to stop */ }
  }

  // Transcript ---------------------------------------------------------------

  const HANGUP_REASONS = {
    "caller hung up": "vous avez raccroché (you hung up)",
    "end of TwiML": "fin du scénario vocal (end of TwiML)",
    "<Hangup>": "la hotline a raccroché (the hotline hung up)",
    "hotliner hung up": "le technicien a raccroché (the hotliner hung up)",
    "phone page closed": "page fermée (page closed)",
    "carrier stopped": "simulateur arrêté (simulator stopped)",
    "ended through the REST API": "terminé par la hotline (ended by the app)",
  };

  function basename(url) {
    try { return new URL(url, location.href).pathname.split("/").pop() || url; }
    catch (err) { return url; }
  }

  function path(url) {
    try { const u = new URL(url, location.href); return u.pathname + u.search; }
    catch (err) { return url; }
  }

  // What a transcript entry looks like on the page: [css class, icon, text, tag].
  function describe(entry) {
    const d = entry.detail;
    switch (entry.kind) {
      case "say":
        return ["say", "▶", "« " + d + " »", entry.language || ""];
      case "play":
        if (d === "beep") return ["music", "♪", "bip (beep)", ""];
        if (entry.queue) return ["music", "♪", "musique d'attente (hold music)", ""];
        return ["music", "♪", "son (audio) : " + basename(d), ""];
      case "pause":
        return ["tech", "…", "pause " + d + " s", ""];
      case "gather": {
        const kinds = d.split(" ").map((k) => k === "dtmf" ? "clavier (keypad)"
          : k === "speech" ? "parole (speech)" : k);
        return ["tech", "◎", "écoute : " + kinds.join(" + ") + " (listening)", entry.language || ""];
      }
      case "input":
        if (d.startsWith("digits ")) return ["you", "⌨", "vous tapez " + d.slice(7) + " (you press)", ""];
        if (d.startsWith("speech ")) return ["you", "☞", "vous dites « " + d.slice(7) + " » (you say)", ""];
        if (d.startsWith("voicemail ")) return ["you", "☞", "vous parlez " + d.slice(10) + " (you speak)", ""];
        return ["you", "…", "silence — délai écoulé (no input, timeout)", ""];
      case "enqueue":
        return ["queue", "≡", "en file d'attente « " + d + " » (in queue " + d + ")", ""];
      case "wait":
        if (d === "hold music") return ["music", "♪", "musique d'attente (hold music)", ""];
        return null;  // each waitUrl fetch: what it plays shows up on its own
      case "leave":
        return ["queue", "↩", "sortie de la file (left the queue) : " + d, ""];
      case "redirect":
        return ["tech", "↪", "redirection (redirect) " + path(d), ""];
      case "dial":
        return ["tech", "☎", "appel (dial) " + d, ""];
      case "conference":
        return ["tech", "☎", "conférence (conference) " + d, ""];
      case "connected":
        return ["connected", "✓", "en ligne avec un technicien (connected to a hotliner)"
          + (d ? " — " + d : ""), ""];
      case "record":
        return ["queue", "●", "enregistrement d'un message (recording a voicemail), " + d, ""];
      case "recorded":
        return ["tech", "●", "message enregistré (recorded) : " + d, ""];
      case "hangup":
        return ["ended", "■", "fin de l'appel (call ended) — " + (HANGUP_REASONS[d] || d), ""];
      case "error":
        return ["error", "⚠", "erreur (application error) : " + d, ""];
      default:
        return ["tech", "·", entry.kind + " " + d, ""];
    }
  }

  function addLine(cls, icon, text, tag, queueName) {
    els.empty.hidden = true;
    const li = document.createElement("li");
    li.className = cls;
    const i = document.createElement("span");
    i.className = "icon";
    i.textContent = icon;
    const t = document.createElement("span");
    t.className = "text";
    t.textContent = text;
    li.append(i, t);
    for (const label of [tag, queueName ? "file " + queueName : ""]) {
      if (!label) continue;
      const badge = document.createElement("span");
      badge.className = "tag";
      badge.textContent = label;
      li.append(badge);
    }
    els.transcript.append(li);
    els.transcript.scrollTop = els.transcript.scrollHeight;
    return li;
  }

  function show(entry) {
    const view = describe(entry);
    if (!view) return;
    const [cls, icon, text, tag] = view;
    const li = addLine(cls, icon, text, tag, entry.kind === "say" ? entry.queue : null);
    li.dataset.kind = entry.kind;
    if (entry.kind === "say") speak(entry.detail, entry.language);
  }

  // Status -------------------------------------------------------------------

  function setStatus(kind, badge, text) {
    els.status.className = "status " + kind;
    els.badge.textContent = badge;
    els.statusText.textContent = text;
  }

  function render(state) {
    lastState = state;
    const listening = state.listening;
    els.keypad.classList.toggle("listening",
      !!listening && listening.input.includes("dtmf"));
    if (!state.live) {
      setStatus("ended", "TERMINÉ", "Appel terminé (call ended) : " + state.status);
    } else if (state.connected) {
      setStatus("connected", "EN LIGNE", "En ligne avec un technicien (connected to a hotliner)");
    } else if (listening && listening.verb === "record") {
      const keys = listening.finish_on_key ? " — tapez " + listening.finish_on_key.slice(0, 3)
        + "… pour terminer (press a key to finish)" : "";
      setStatus("listening", "ENREGISTREMENT", "Laissez votre message : dites une phrase" + keys);
    } else if (state.queue) {
      const q = state.queue;
      const pos = q.position ? ", position " + q.position + " sur " + q.size : "";
      const keys = listening ? " — clavier actif (keypad listening)" : "";
      setStatus("queue", "EN FILE", "En file d'attente « " + q.name + " »" + pos
        + " (in queue " + q.name + ")" + keys);
    } else if (listening) {
      const what = listening.input.length === 2 ? "tapez une touche ou dites une phrase"
        : listening.input[0] === "dtmf" ? "tapez une touche" : "dites une phrase";
      const prompting = listening.prompting
        ? " (message en cours, vous pouvez déjà répondre — prompt playing, you may answer)"
        : " (waiting for your input)";
      setStatus("listening", "À L'ÉCOUTE", "À vous : " + what + prompting);
    } else if (state.status === "ringing" || state.status === "queued") {
      setStatus("playing", "SONNERIE", "Ça sonne… (ringing)");
    } else {
      setStatus("playing", "LECTURE", "La hotline parle… (playing)");
    }
  }

  // Call control -------------------------------------------------------------

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body || {}),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error || data.message || response.statusText);
    return data;
  }

  function setLive(value) {
    live = value;
    els.call.disabled = value;
    els.caller.disabled = value;
    els.hangup.disabled = !value;
  }

  async function placeCall(event) {
    event.preventDefault();
    if (live) return;
    silence();
    els.transcript.replaceChildren();
    els.typed.textContent = "";
    next = 0;
    try {
      const call = await post(API, { from: els.caller.value });
      sid = call.sid;
      setLive(true);
      setStatus("playing", "SONNERIE", "Ça sonne… (ringing)");
      addLine("tech", "☎", "appel de " + call.from + " vers " + call.to + " (" + call.sid + ")", "", null);
      poll();
    } catch (err) {
      addLine("error", "⚠", "appel impossible (call failed) : " + err.message, "", null);
    }
  }

  async function poll() {
    clearTimeout(timer);
    if (!sid) return;
    const current = sid;
    try {
      const response = await fetch(API + "/" + current + "/events?after=" + next);
      if (!response.ok) throw new Error(response.statusText);
      const state = await response.json();
      if (current !== sid) return;
      for (const entry of state.events) show(entry);
      next = state.next;
      render(state);
      if (!state.live) {
        setLive(false);
        return;
      }
    } catch (err) {
      console.warn("poll failed", err);
    }
    timer = setTimeout(poll, POLL_MS);
  }

  async function press(key) {
    const button = els.keypad.querySelector('[data-key="' + CSS.escape(key) + '"]');
    if (button) {
      button.classList.add("pressed");
      setTimeout(() => button.classList.remove("pressed"), 150);
    }
    if (!live) {
      addLine("local", "·", "appelez d'abord (place a call first)", "", null);
      return;
    }
    els.typed.textContent = (els.typed.textContent + key).slice(-16);
    try {
      const answer = await post(API + "/" + sid + "/keys", { keys: key });
      if (answer.heard) {
        silence();  // barge-in: the prompt stops when the caller answers
      } else {
        addLine("local", "·", "touche " + key + " ignorée : la hotline n'écoute pas"
          + " (key ignored: not listening)", "", null);
      }
    } catch (err) {
      addLine("local", "⚠", err.message, "", null);
    }
  }

  async function sayPhrase(event) {
    event.preventDefault();
    const text = els.phrase.value.trim();
    if (!text) return;
    if (!live) {
      addLine("local", "·", "appelez d'abord (place a call first)", "", null);
      return;
    }
    try {
      const answer = await post(API + "/" + sid + "/speech", { text: text });
      if (answer.heard) {
        silence();
        els.phrase.value = "";
      } else {
        addLine("local", "·", "phrase ignorée : la hotline n'écoute pas la parole"
          + " (not listening for speech)", "", null);
      }
    } catch (err) {
      addLine("local", "⚠", err.message, "", null);
    }
  }

  async function hangUp() {
    if (!sid || !live) return;
    silence();
    try {
      await post(API + "/" + sid + "/hangup");
    } catch (err) {
      addLine("local", "⚠", err.message, "", null);
    }
    poll();
  }

  els.dialForm.addEventListener("submit", placeCall);
  els.speechForm.addEventListener("submit", sayPhrase);
  els.hangup.addEventListener("click", hangUp);
  els.keypad.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-key]");
    if (button) press(button.dataset.key);
  });
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (target instanceof HTMLInputElement || event.ctrlKey || event.metaKey || event.altKey) return;
    if (/^[0-9*#]$/.test(event.key)) {
      event.preventDefault();
      press(event.key);
    }
  });
  // Closing the page hangs up, so no forgotten call waits in a queue.
  window.addEventListener("pagehide", () => {
    if (sid && live) {
      fetch(API + "/" + sid + "/hangup", {
        method: "POST", keepalive: true,
        headers: { "Content-Type": "application/json" }, body: "{}",
      }).catch(() => {});
    }
  });

  window.hotlinePhone = { state: () => lastState };  // for tests and curious people
})();
