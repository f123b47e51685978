/* One way for every page to call the JSON API (`/api/...`): the session's
 * cookie, the page's CSRF token, a JSON body; an answer that is not 2xx
 * rejects with the API's own reason (`{"error": ...}`).
 */
(function () {
  "use strict";
  window.hotlineApi = function (method, path, body) {
    const token = document.querySelector('meta[name="csrf-token"]');
    return fetch(path, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": token ? token.content : "" },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (json) {
        if (!r.ok) throw new Error(json.error || ("HTTP " + r.status));
        return json;
      });
    });
  };
}());
