"""Who is asking: sessions, API tokens, roles, CSRF, login throttling, headers.

Everyone logs in. A person gets a Flask-Login session (an HttpOnly, SameSite
cookie that lapses after an hour without use); a script or a simulated
hotliner sends `Authorization: Bearer <token>` (`hotline users token`). On the
JSON API, nobody gets 401, the wrong role 403, both with a JSON body; pages
send anonymous visitors to the login form. Every form and every JSON write
made with a session carries a CSRF token (Flask-WTF); token-authenticated
requests do not (a cross-site page cannot send the header). Five login tries
a minute per account and per address, then 429 (Flask-Limiter, counts in
Redis). Twilio's webhooks are signed instead (`web.twilio_auth`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis
from flask import (
    Blueprint,
    Flask,
    Request,
    Response,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask.typing import ResponseReturnValue
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy.exc import SQLAlchemyError

from accounts.roles import Role, steers
from accounts.store import Account, AccountStore
from queues import webhooks

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

#: A session lapses after this long without a request.
IDLE_TIMEOUT = timedelta(hours=1)

#: Content-Security-Policy of every answer: no script but our own files.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'"
)

bp = Blueprint("auth", __name__)
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address)
login_manager = LoginManager()


def is_twilio_webhook() -> bool:
    """Twilio's webhooks prove who sends them by signature (`web.twilio_auth`);
    they have no session and are not throttled per address (every call comes
    from Twilio's few addresses). Each caller's step skips that work."""
    return request.path.startswith(webhooks.ROOT)


def _spare_webhooks_the_limiter(app: Flask) -> None:
    """Flask-Limiter's check before every request weighs its (empty) limits
    even for a request its filters exempt: 7 % of a menu step's CPU. The login
    throttle is checked by its decorators (`@limiter.limit`), not by this
    hook, so webhooks skip the hook altogether."""
    hooks = app.before_request_funcs.setdefault(None, [])
    check = limiter._check_request_limit

    def unless_webhook() -> None:
        if not is_twilio_webhook():
            check()

    hooks[:] = [unless_webhook if hook == check else hook for hook in hooks]


class WebhookFreeSessions(SecureCookieSessionInterface):
    """Sessions as Flask keeps them, except that a Twilio webhook gets the
    null session: nothing to decode, nothing to sign and send back."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(webhooks.ROOT):
            return self.make_null_session(app)
        return super().open_session(app, request)


class SessionUser(UserMixin):  # type: ignore[misc]
    """The logged-in account, as Flask-Login carries it."""

    def __init__(self, account: Account) -> None:
        self.account = account

    def get_id(self) -> str:
        return self.account.id


def _accounts() -> AccountStore:
    store: AccountStore = current_app.extensions["hotline"].accounts
    return store


class _LastKnown:
    """Accounts as last read from SQL, kept in Redis for when SQL is unreachable.

    Hotliners keep working through an outage of the database (their session
    or token was valid moments ago, in whichever web process); a change made
    while SQL answers (an account disabled, a token replaced) takes effect at
    once, since SQL is always asked first.
    """

    def read(self, key: str, load: Callable[[], Account | None]) -> Account | None:
        rt = current_app.extensions["hotline"].runtime
        redis_key = rt.keys.account_cache(key)
        try:
            account = load()
        except SQLAlchemyError:
            try:
                raw = rt.redis.get(redis_key)
            except redis.RedisError:
                raw = None
            if raw is None:
                raise
            log.warning("call log unreachable: an account as last read")
            return _decode(raw)
        with contextlib.suppress(redis.RedisError):
            rt.redis.set(redis_key, _encode(account), ex=LAST_KNOWN_SECONDS)
        return account


def _encode(account: Account | None) -> str:
    if account is None:
        return "null"
    return json.dumps(
        {
            "id": account.id,
            "name": account.name,
            "role": account.role.value,
            "active": account.active,
            "has_password": account.has_password,
        }
    )


def _decode(raw: bytes | str) -> Account | None:
    data = json.loads(raw)
    if data is None:
        return None
    return Account(
        id=data["id"],
        name=data["name"],
        role=Role(data["role"]),
        active=bool(data["active"]),
        has_password=bool(data["has_password"]),
    )


#: How long an account read from SQL still serves while SQL is unreachable.
LAST_KNOWN_SECONDS = 3600
_last_known = _LastKnown()


def _load(account_id: str) -> SessionUser | None:
    account = _last_known.read("id:" + account_id, lambda: _accounts().get(account_id))
    return SessionUser(account) if account is not None and account.active else None


login_manager.user_loader(_load)


def init_auth(
    app: Flask, *, redis_url: str, secure_cookies: bool, pages: bool = True
) -> None:
    """Sessions, CSRF, throttling and security headers for `app`; `pages`: the
    login and account pages too (the consoles' feed only reads sessions)."""
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure_cookies,
        REMEMBER_COOKIE_HTTPONLY=True,
        PERMANENT_SESSION_LIFETIME=IDLE_TIMEOUT,
        RATELIMIT_STORAGE_URI=redis_url,
        RATELIMIT_KEY_PREFIX="hotline-limits",
        RATELIMIT_SWALLOW_ERRORS=True,  # Redis down must not lock everyone out
        RATELIMIT_HEADERS_ENABLED=True,
    )
    app.session_interface = WebhookFreeSessions()
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    csrf.init_app(app)
    limiter.init_app(app)
    _spare_webhooks_the_limiter(app)
    if pages:
        app.register_blueprint(bp)

    @app.after_request
    def _security_headers(response: Response) -> Response:
        if is_twilio_webhook():  # TwiML, read by Twilio, never by a browser
            return response
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @app.errorhandler(CSRFError)
    def _csrf_refused(exc: CSRFError) -> ResponseReturnValue:
        if request.path.startswith("/api/"):
            return jsonify({"error": f"CSRF token refused: {exc.description}"}), 400
        return exc.description, 400

    @app.errorhandler(429)
    def _too_many(exc: Exception) -> ResponseReturnValue:
        return jsonify({"error": "too many tries; wait a minute"}), 429


def _account_key() -> str:
    return "account:" + request.form.get("username", "").strip().lower()


def _failed(response: Response) -> bool:
    """Only failed tries count: a team behind one office address (NAT, proxy)
    logging in at the start of a shift is not a guesser."""
    return response.status_code != 302


def _safe_next(target: str | None, role: Role | None = None) -> str:
    """Only a path of this site: never an open redirect. Without one, each
    role's own home: the console for hotliners, the wallboard for others."""
    if target and target.startswith("/") and not urlsplit(target).netloc:
        return target
    if role is Role.HOTLINER:
        return url_for("console.page")
    return url_for("supervisor.page")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("5 per minute", methods=["POST"], deduct_when=_failed)
@limiter.limit(
    "5 per minute", key_func=_account_key, methods=["POST"], deduct_when=_failed
)
def login() -> ResponseReturnValue:
    """The login form; a wrong login or password says so, and which is not told."""
    error = None
    username = request.form.get("username", "").strip().lower()[:64]
    if request.method == "POST":
        account = _accounts().authenticate(username, request.form.get("password", ""))
        if account is not None:
            login_user(SessionUser(account))
            session.permanent = True  # lapses after IDLE_TIMEOUT unused
            log.info("login account=%s role=%s", account.id, account.role)
            return redirect(_safe_next(request.args.get("next"), account.role))
        error = "Identifiant ou mot de passe incorrect."
    page = render_template("login.html", error=error, username=username)
    return page, 401 if error else 200


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    logout_user()
    return redirect(url_for("auth.login"))


def api_account() -> Account | None:
    """The account behind this API request: a Bearer token, else the session.

    A session-authenticated write must carry the CSRF token (checked here);
    a token in the header cannot be sent by another site, so needs none.
    """
    if "account" in g:
        cached: Account | None = g.account
        return cached
    account: Account | None = None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        token = header.removeprefix("Bearer ").strip()
        account = _last_known.read(
            "token:" + hashlib.sha256(token.encode()).hexdigest(),
            lambda: _accounts().by_token(token),
        )
    elif current_user.is_authenticated:
        account = current_user.account
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            csrf.protect()
    g.account = account
    return account


def api_login_required(view: F) -> F:
    """401 with a JSON body unless the request comes from an account."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if api_account() is None:
            return jsonify({"error": "log in, or send an API token"}), 401
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def require_steering(view: F) -> F:
    """Supervisors and admins only (401 anonymous, 403 a hotliner)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        account = api_account()
        if account is None:
            return jsonify({"error": "log in, or send an API token"}), 401
        if not steers(account.role):
            return jsonify({"error": "supervisors only"}), 403
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def page_for(*roles: Role) -> Callable[[F], F]:
    """A page for these roles: anonymous visitors go to the login form."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return redirect(url_for("auth.login", next=request.full_path))
            if current_user.account.role not in roles:
                return render_template("forbidden.html"), 403
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def json_for(*roles: Role) -> Callable[[F], F]:
    """A page's own JSON or event stream (session only): 401 anonymous, 403
    another role, as JSON (a script reading it gets no login page)."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return jsonify({"error": "log in"}), 401
            if current_user.account.role not in roles:
                return jsonify({"error": "not for your role"}), 403
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
