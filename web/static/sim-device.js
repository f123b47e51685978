/*
 * HotlineSimDevice: the part of Twilio Voice SDK 2.x's `Twilio.Device` the
 * console uses, played against the carrier simulator's softphone API
 * (simulator/softphone.py), so a person answers hotliner calls in simulated
 * mode with the same code as against Twilio.
 *
 *   const device = new HotlineSimDevice(token, { carrierUrl });
 *   device.on("incoming", (call) => { call.on("cancel", ...); call.accept(); });
 *   device.register();
 *
 * The carrier rings `client:<identity of the token>`; events arrive on an
 * EventSource (`?token=`: EventSource cannot send headers), actions are
 * `fetch` POSTs with `Authorization: Bearer <token>`. No audio: the call is
 * simulated, its state is real. Plain ES2017, no build step.
 */
(function () {
  "use strict";

  // Twilio's error codes for what can go wrong here.
  const TOKEN_INVALID = 20101;
  const TOKEN_EXPIRED = 20104;
  const CONNECTION_ERROR = 31005;
  const DIGITS = /^[0-9*#]{1,20}$/;
  const TOKEN_WILL_EXPIRE_MS = 10000; // Twilio.Device's default tokenRefreshMs

  function twilioError(code, message) {
    const error = new Error(message);
    error.code = code;
    return error;
  }

  /** Seconds since the epoch at which a JWT expires, or null if unreadable. */
  function tokenExpiry(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const padded = part + "===".slice((part.length + 3) % 4);
      const exp = JSON.parse(atob(padded)).exp;
      return typeof exp === "number" ? exp : null;
    } catch (err) {
      return null;
    }
  }

  class Emitter {
    constructor() {
      this._handlers = {};
    }

    on(name, fn) {
      (this._handlers[name] = this._handlers[name] || []).push(fn);
      return this;
    }

    once(name, fn) {
      const wrapper = (...args) => {
        this.off(name, wrapper);
        fn(...args);
      };
      return this.on(name, wrapper);
    }

    off(name, fn) {
      const list = this._handlers[name] || [];
      this._handlers[name] = list.filter((handler) => handler !== fn);
      return this;
    }

    removeAllListeners() {
      this._handlers = {};
      return this;
    }

    _emit(name, ...args) {
      for (const handler of (this._handlers[name] || []).slice()) {
        try {
          handler(...args);
        } catch (err) {
          // One page handler failing must not stop the others or the device.
          setTimeout(() => {
            throw err;
          });
        }
      }
    }
  }

  /** One incoming call: Twilio's `Call` (status pending -> open -> closed). */
  class HotlineSimCall extends Emitter {
    constructor(device, parameters) {
      super();
      this._device = device;
      this._status = "pending";
      this._accepting = false;
      this.parameters = {
        CallSid: parameters.CallSid,
        From: parameters.From,
        To: parameters.To,
      };
    }

    status() {
      return this._status;
    }

    accept() {
      if (this._status !== "pending" || this._accepting) return;
      this._accepting = true;
      this._post("accept").then(
        () => this._opened(),
        (err) => {
          this._accepting = false;
          this._failed(err);
          // Nothing rings any more (answered elsewhere, caller gone): stop.
          if (err.status === 409 || err.status === 404) this._close("cancel");
        }
      );
    }

    reject() {
      if (this._status !== "pending") return;
      this._close("reject");
      this._post("reject").catch((err) => this._failed(err));
    }

    disconnect() {
      if (this._status === "pending") {
        this.reject();
        return;
      }
      if (this._status !== "open") return;
      this._close("disconnect");
      this._post("hangup").catch((err) => this._failed(err));
    }

    sendDigits(digits) {
      const keys = String(digits);
      if (!DIGITS.test(keys)) {
        throw twilioError(31000, "digits are 1 to 20 of 0-9, * and #");
      }
      if (this._status !== "open") return;
      this._post("digits", { digits: keys }).catch((err) => this._failed(err));
    }

    /** What the carrier says about this call (the events stream). */
    _event(name) {
      if (name === "accept") {
        if (this._accepting) this._opened();
        else if (this._status === "pending") this._close("cancel"); // answered elsewhere
      } else if (name === "cancel") {
        if (this._status === "pending") this._close("cancel");
        else if (this._status === "open") this._close("disconnect");
      } else if (name === "disconnect") {
        if (this._status !== "closed") this._close("disconnect");
      }
    }

    _opened() {
      if (this._status !== "pending") return;
      this._accepting = false;
      this._status = "open";
      this._emit("accept", this);
    }

    _close(event) {
      if (this._status === "closed") return;
      this._status = "closed";
      this._accepting = false;
      this._device._forget(this);
      this._emit(event, this);
    }

    _failed(err) {
      this._emit("error", err);
      this._device._emit("error", err, this);
    }

    _post(action, body) {
      const sid = encodeURIComponent(this.parameters.CallSid);
      return this._device._post(`/softphone/api/calls/${sid}/${action}`, body || {});
    }
  }

  /** Twilio.Device: registers `client:<identity>` and hands out incoming calls. */
  class HotlineSimDevice extends Emitter {
    constructor(token, options) {
      super();
      const carrierUrl = (options && options.carrierUrl) || "";
      if (!carrierUrl) throw twilioError(31000, "HotlineSimDevice needs {carrierUrl}");
      this._base = carrierUrl.replace(/\/+$/, "");
      this._token = token;
      this._source = null;
      this._calls = new Map();
      this._expiryTimer = null;
      this._waiting = []; // register() promises: [resolve, reject]
      this._wanted = false; // register() called and not undone: keep the stream up
      this.identity = null;
      this.state = "unregistered"; // | "registering" | "registered" | "destroyed"
    }

    get calls() {
      return Array.from(this._calls.values());
    }

    /** Opens the events stream; resolves once the carrier rings us. */
    register() {
      if (this.state === "destroyed") {
        return Promise.reject(twilioError(31000, "the device is destroyed"));
      }
      const promise = new Promise((resolve, reject) => this._waiting.push([resolve, reject]));
      this._wanted = true;
      if (this.state === "registered") this._settle(null);
      else if (!this._source) this._open();
      return promise;
    }

    unregister() {
      if (this.state === "destroyed") return Promise.resolve();
      this._wanted = false;
      this._close();
      return Promise.resolve();
    }

    updateToken(token) {
      this._token = token;
      this._watchExpiry();
      if (this._wanted && this.state !== "destroyed") {
        // The stream authenticated with the old token (or was refused for
        // it): open it again with the new one, as Twilio re-registers.
        if (this._source) this._source.close();
        this._source = null;
        this._open();
      }
    }

    destroy() {
      if (this.state === "destroyed") return;
      this._wanted = false;
      for (const call of this.calls) call.disconnect();
      this._close();
      this.state = "destroyed";
      this._emit("destroyed");
    }

    _open() {
      const url = `${this._base}/softphone/api/events?token=${encodeURIComponent(this._token)}`;
      const source = new EventSource(url);
      this._source = source;
      this.state = "registering";
      this._emit("registering");
      this._watchExpiry();
      source.addEventListener("ready", (event) => {
        if (source !== this._source) return;
        this.identity = JSON.parse(event.data).identity;
        if (this.state !== "registered") {
          this.state = "registered";
          this._emit("registered");
        }
        this._settle(null);
      });
      source.addEventListener("incoming", (event) => {
        if (source !== this._source) return;
        const data = JSON.parse(event.data);
        if (this._calls.has(data.CallSid)) return; // a reconnect repeats it
        const call = new HotlineSimCall(this, data);
        this._calls.set(data.CallSid, call);
        this._emit("incoming", call);
      });
      for (const name of ["accept", "cancel", "disconnect"]) {
        source.addEventListener(name, (event) => {
          if (source !== this._source) return;
          const call = this._calls.get(JSON.parse(event.data).CallSid);
          if (call) call._event(name);
        });
      }
      source.onerror = () => {
        if (source !== this._source) return;
        if (source.readyState === EventSource.CLOSED) {
          // Refused (bad or expired token) or the carrier is gone: no retry.
          this._source = null;
          const error = this._streamError();
          this._unregistered();
          this._settle(error);
          this._emit("error", error);
        } else {
          this._unregistered(); // EventSource reconnects by itself
        }
      };
    }

    _streamError() {
      const exp = tokenExpiry(this._token);
      if (exp !== null && exp * 1000 <= Date.now()) {
        return twilioError(TOKEN_EXPIRED, "the access token has expired");
      }
      if (exp === null) return twilioError(TOKEN_INVALID, "the access token is invalid");
      return twilioError(CONNECTION_ERROR, "the carrier refused or closed the events stream");
    }

    _close() {
      const wasOpen = this._source !== null;
      if (this._source) this._source.close();
      this._source = null;
      clearTimeout(this._expiryTimer);
      this._settle(twilioError(31000, "unregistered"));
      for (const call of this.calls) {
        if (call.status() === "pending") call._close("cancel");
      }
      if (wasOpen) this._unregistered();
    }

    _unregistered() {
      if (this.state === "destroyed") return;
      const was = this.state;
      this.state = "unregistered";
      if (was === "registered") this._emit("unregistered");
    }

    _settle(error) {
      const waiting = this._waiting;
      this._waiting = [];
      for (const [resolve, reject] of waiting) {
        if (error) reject(error);
        else resolve();
      }
    }

    _watchExpiry() {
      clearTimeout(this._expiryTimer);
      const exp = tokenExpiry(this._token);
      if (exp === null) return;
      const delay = Math.max(0, exp * 1000 - Date.now() - TOKEN_WILL_EXPIRE_MS);
      if (delay > 0x7fffffff) return; // setTimeout would fire at once
      this._expiryTimer = setTimeout(() => this._emit("tokenWillExpire", this), delay);
    }

    _forget(call) {
      this._calls.delete(call.parameters.CallSid);
    }

    _post(path, body) {
      return fetch(this._base + path, {
        method: "POST",
        headers: {
          Authorization: `Bearer ${this._token}`,
          "Content-Type": "application/json",
        },
        body: JSON.stringify(body),
      }).then(
        (response) =>
          response
            .json()
            .catch(() => ({}))
            .then((answer) => {
              if (response.ok) return answer;
              const code = response.status === 401 ? TOKEN_INVALID : CONNECTION_ERROR;
              const error = twilioError(code, answer.error || `HTTP ${response.status}`);
              error.status = response.status;
              throw error;
            }),
        (err) => {
          throw twilioError(CONNECTION_ERROR, `the carrier is unreachable: ${err.message}`);
        }
      );
    }
  }

  window.HotlineSimDevice = HotlineSimDevice;
})();
