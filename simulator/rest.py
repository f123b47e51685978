"""Twilio's REST API (2010-04-01), the part the hotline calls, in Twilio's shapes.

Handlers only change state and wake call threads: they never make an HTTP
request themselves, so an app that calls the API from inside a webhook (a
single-threaded worker, say) cannot deadlock against its own callbacks.
Answers carry the fields `twilio-python`'s instances read, and errors the
JSON body Twilio sends, so `TwilioRestException` carries the real codes.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from core.clock import utcnow
from simulator.audio import mp3_bytes, wav_bytes
from simulator.phone import PhoneLines, phone
from simulator.sids import new_sid
from simulator.softphone import softphone
from simulator.state import (
    Call,
    ConferenceState,
    Fetch,
    Inline,
    JoinSpec,
    Participant,
    QueueState,
    RecordingState,
    Target,
    rfc2822,
)

if TYPE_CHECKING:
    from simulator.carrier import Carrier
    from simulator.switchboard import Switchboard

API = "/2010-04-01"
CALL_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})
CONFERENCE_EVENTS = frozenset(
    "start end join leave mute hold modify speaker announcement".split()
)

rest = Blueprint("rest", __name__, url_prefix=f"{API}/Accounts/<account_sid>")


class ApiError(Exception):
    """An error answer in Twilio's JSON shape."""

    def __init__(self, status: int, code: int, message: str) -> None:
        self.status = status
        self.code = code
        self.message = message
        super().__init__(message)


def create_rest_app(carrier: Carrier) -> Flask:
    """The WSGI app the carrier serves; `carrier` travels in `app.extensions`."""
    app = Flask(__name__)
    app.extensions["simulator.carrier"] = carrier
    app.register_blueprint(rest)
    app.extensions["simulator.phone"] = PhoneLines()
    app.register_blueprint(phone)
    app.register_blueprint(softphone)  # access-token auth, not Twilio's basic auth

    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> tuple[Response, int]:
        body = {
            "code": error.code,
            "message": error.message,
            "more_info": f"https://www.twilio.com/docs/errors/{error.code}",
            "status": error.status,
        }
        return jsonify(body), error.status

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response, int]:
        status = error.code or 500
        if status == 404:
            return api_error(_not_found())
        return api_error(ApiError(status, 20000 + status, error.description or ""))

    return app


def _carrier() -> Carrier:
    carrier: Carrier = current_app.extensions["simulator.carrier"]
    return carrier


def _board() -> Switchboard:
    return _carrier().board


def _not_found() -> ApiError:
    return ApiError(404, 20404, f"The requested resource {request.path} was not found")


@rest.before_request
def authenticate() -> None:
    if request.endpoint == "rest.fetch_recording" and _is_media(request.view_args):
        return  # Twilio serves recording media without auth by default
    config = _carrier().config
    auth = request.authorization
    account_sid = (request.view_args or {}).get("account_sid")
    if (
        auth is None
        or auth.type != "basic"
        or not hmac.compare_digest(auth.username or "", config.account_sid)
        or not hmac.compare_digest(auth.password or "", config.auth_token)
    ):
        raise ApiError(401, 20003, "Authentication Error - invalid username")
    if account_sid != config.account_sid:
        raise _not_found()


def _require(name: str, code: int, message: str | None = None) -> str:
    value = request.form.get(name, "").strip()
    if not value:
        raise ApiError(400, code, message or f"Required parameter {name} missing.")
    return value


def _flag(name: str, default: bool) -> bool:
    value = request.form.get(name)
    if value is None:
        return default
    if value.lower() not in ("true", "false"):
        raise ApiError(400, 21201, f"{name} must be true or false, not {value!r}")
    return value.lower() == "true"


def _events(name: str, allowed: frozenset[str]) -> frozenset[str]:
    values = frozenset(
        event
        for value in request.form.getlist(name)
        for event in value.replace(",", " ").split()
    )
    if not values <= allowed:
        unknown = ", ".join(sorted(values - allowed))
        raise ApiError(400, 21626, f"Invalid {name}: {unknown}")
    return values


def _method(name: str, default: str = "POST") -> str:
    value = request.form.get(name, default).upper()
    if value not in ("GET", "POST"):
        raise ApiError(400, 21205, f"{name} must be GET or POST")
    return value


def _target() -> Target | None:
    twiml = request.form.get("Twiml")
    url = request.form.get("Url")
    if twiml and url:
        raise ApiError(400, 21205, "Url and Twiml are mutually exclusive")
    if twiml:
        return Inline(twiml)
    if url:
        return Fetch(url, _method("Method"))
    return None


def _timeout(default: int = 60) -> float:
    value = request.form.get("Timeout", str(default))
    try:
        seconds = int(value)
    except ValueError:
        raise ApiError(400, 21210, f"Timeout must be an integer: {value!r}") from None
    return float(min(max(seconds, 1), 600))


def _page(key: str, items: list[dict[str, Any]]) -> Response:
    uri = request.full_path.rstrip("?")
    return jsonify(
        {
            key: items,
            "start": 0,
            "end": max(len(items) - 1, 0),
            "page": 0,
            "page_size": max(len(items), 50),
            "first_page_uri": uri,
            "next_page_uri": None,
            "previous_page_uri": None,
            "uri": uri,
        }
    )


# Calls -----------------------------------------------------------------------


@rest.post("/Calls.json")
def create_call(account_sid: str) -> tuple[Response, int]:
    to = _require("To", 21201, "No 'To' number is specified")
    from_number = _require("From", 21213, "No 'From' number is specified")
    target = _target()
    if target is None:
        raise ApiError(400, 21205, "Url parameter is required.")
    callback = request.form.get("StatusCallback") or None
    events = _events("StatusCallbackEvent", CALL_EVENTS) or frozenset({"completed"})
    call = _carrier().launch_call(
        direction="outbound-api",
        from_number=from_number,
        to=to,
        target=target,
        ring_timeout=_timeout(),
        status_callback=callback,
        status_callback_method=_method("StatusCallbackMethod"),
        status_callback_events=events,
    )
    with _board().lock:
        body = _call_json(call)
    # As Twilio answers: the call as created, whatever its thread (already
    # started) has done since.
    body["status"] = "queued"
    return jsonify(body), 201


@rest.get("/Calls.json")
def list_calls(account_sid: str) -> Response:
    status = request.args.get("Status")
    with _board().lock:
        calls = [
            _call_json(call)
            for call in _board().calls.values()
            if status is None or call.status == status
        ]
    return _page("calls", calls)


@rest.get("/Calls/<call_sid>.json")
def fetch_call(account_sid: str, call_sid: str) -> Response:
    with _board().lock:
        return jsonify(_call_json(_call(call_sid)))


@rest.post("/Calls/<call_sid>.json")
def update_call(account_sid: str, call_sid: str) -> Response:
    board = _board()
    target = _target()
    status = request.form.get("Status")
    if status is not None and status not in ("completed", "canceled"):
        raise ApiError(400, 21218, f"Invalid Status {status!r}: completed or canceled")
    with board.lock:
        call = _call(call_sid)
        if target is not None:
            if call.status != "in-progress":
                raise ApiError(400, 21220, "Call is not in-progress. Cannot redirect.")
            board.redirect(call, target)
        if status is not None and call.is_live:
            if call.status in ("queued", "ringing"):
                board.request_end(call, "canceled", "canceled through the REST API")
            elif status == "completed":
                board.request_end(call, "completed", "ended through the REST API")
        return jsonify(_call_json(call))


def _call(call_sid: str) -> Call:
    call = _board().calls.get(call_sid)
    if call is None:
        raise _not_found()
    return call


def _call_json(call: Call) -> dict[str, Any]:
    config = _carrier().config
    uri = f"{API}/Accounts/{config.account_sid}/Calls/{call.sid}.json"
    return {
        "sid": call.sid,
        "account_sid": call.account_sid,
        "parent_call_sid": call.parent_call_sid,
        "to": call.to,
        "to_formatted": call.to,
        "from": call.from_number,
        "from_formatted": call.from_number,
        "status": call.status,
        "direction": call.direction,
        "api_version": "2010-04-01",
        "date_created": rfc2822(call.date_created),
        "date_updated": rfc2822(utcnow()),
        "start_time": rfc2822(call.start_time),
        "end_time": rfc2822(call.end_time),
        "duration": None if call.duration is None else str(call.duration),
        "answered_by": None,
        "caller_name": None,
        "forwarded_from": None,
        "group_sid": None,
        "phone_number_sid": None,
        "trunk_sid": None,
        "price": None,
        "price_unit": "USD",
        "queue_time": "0",
        "annotation": None,
        "uri": uri,
        "subresource_uris": {
            "notifications": uri.replace(".json", "/Notifications.json"),
            "recordings": uri.replace(".json", "/Recordings.json"),
        },
    }


# Conferences -------------------------------------------------------------------


@rest.get("/Conferences.json")
def list_conferences(account_sid: str) -> Response:
    name = request.args.get("FriendlyName")
    status = request.args.get("Status")
    with _board().lock:
        conferences = [
            _conference_json(conference)
            for conference in _board().conferences.values()
            if (name is None or conference.name == name)
            and (status is None or conference.status == status)
        ]
    return _page("conferences", conferences)


@rest.get("/Conferences/<conference_sid>.json")
def fetch_conference(account_sid: str, conference_sid: str) -> Response:
    with _board().lock:
        return jsonify(_conference_json(_conference(conference_sid)))


@rest.get("/Conferences/<conference_sid>/Participants.json")
def list_participants(account_sid: str, conference_sid: str) -> Response:
    with _board().lock:
        conference = _conference(conference_sid)
        participants = [_participant_json(p) for p in conference.participants.values()]
    return _page("participants", participants)


@rest.post("/Conferences/<conference_sid>/Participants.json")
def create_participant(account_sid: str, conference_sid: str) -> tuple[Response, int]:
    """Calls `To`; once answered, the leg joins the conference (named or by sid)."""
    from_number = _require("From", 21213, "No 'From' number is specified")
    to = _require("To", 21201, "No 'To' number is specified")
    with _board().lock:
        if conference_sid.startswith("CF") and len(conference_sid) == 34:
            name = _conference(conference_sid).name
        else:
            name = conference_sid
        conference = _board().conference(name)
    spec = JoinSpec(
        conference_name=name,
        label=request.form.get("Label") or None,
        coaching=_flag("Coaching", False),
        call_sid_to_coach=request.form.get("CallSidToCoach") or None,
        start_conference_on_enter=_flag("StartConferenceOnEnter", True),
        end_conference_on_exit=_flag("EndConferenceOnExit", False),
        muted=_flag("Muted", False),
        beep=request.form.get("Beep", "true"),
        status_callback=request.form.get("ConferenceStatusCallback") or None,
        status_callback_method=_method("ConferenceStatusCallbackMethod"),
        status_callback_events=_events(
            "ConferenceStatusCallbackEvent", CONFERENCE_EVENTS
        ),
    )
    call = _carrier().launch_call(
        direction="outbound-api",
        from_number=from_number,
        to=to,
        ring_timeout=_timeout(),
        status_callback=request.form.get("StatusCallback") or None,
        status_callback_method=_method("StatusCallbackMethod"),
        status_callback_events=(
            _events("StatusCallbackEvent", CALL_EVENTS) or frozenset({"completed"})
        ),
        join=spec,
    )
    with _board().lock:
        pending = Participant.joining(call, conference, spec, status="queued")
        return jsonify(_participant_json(pending)), 201


@rest.get("/Conferences/<conference_sid>/Participants/<call_sid>.json")
def fetch_participant(account_sid: str, conference_sid: str, call_sid: str) -> Response:
    with _board().lock:
        return jsonify(_participant_json(_participant(conference_sid, call_sid)))


@rest.post("/Conferences/<conference_sid>/Participants/<call_sid>.json")
def update_participant(
    account_sid: str, conference_sid: str, call_sid: str
) -> Response:
    board = _board()
    with board.lock:
        participant = _participant(conference_sid, call_sid)
        call = participant.call
        hold = _flag("Hold", participant.hold)
        muted = _flag("Muted", participant.muted)
        if hold != participant.hold:
            # What the held leg hears until taken back: the HoldUrl's document
            # (played by the leg's thread), else Twilio's default music.
            call.note("hold", "hold music" if hold else "back from hold")
            participant.hold = hold
            call.outbox += board.participant_changed(participant, "hold", hold)
            if hold and request.form.get("HoldUrl"):
                call.documents.append(
                    ("hold", request.form["HoldUrl"], _method("HoldMethod", "GET"))
                )
        if request.form.get("AnnounceUrl"):
            call.documents.append(
                ("announce", request.form["AnnounceUrl"], _method("AnnounceMethod"))
            )
        if muted != participant.muted:
            participant.muted = muted
            call.outbox += board.participant_changed(participant, "mute", muted)
        modified = {
            "EndConferenceOnExit",
            "Coaching",
            "CallSidToCoach",
        } & set(request.form)
        participant.end_conference_on_exit = _flag(
            "EndConferenceOnExit", participant.end_conference_on_exit
        )
        participant.coaching = _flag("Coaching", participant.coaching)
        participant.call_sid_to_coach = (
            request.form.get("CallSidToCoach") or participant.call_sid_to_coach
        )
        if modified:
            call.outbox += board.participant_changed(participant, "modify", True)
        participant.conference.date_updated = utcnow()
        participant.conference.record_audio()
        call.wake.set()
        return jsonify(_participant_json(participant))


@rest.delete("/Conferences/<conference_sid>/Participants/<call_sid>.json")
def kick_participant(account_sid: str, conference_sid: str, call_sid: str) -> Response:
    with _board().lock:
        participant = _participant(conference_sid, call_sid)
        participant.kicked = True
        participant.call.wake.set()
    return Response(status=204)


def _conference(conference_sid: str) -> ConferenceState:
    conference = _board().conferences.get(conference_sid)
    if conference is None:
        raise _not_found()
    return conference


def _participant(conference_sid: str, call_sid: str) -> Participant:
    participant = _conference(conference_sid).participants.get(call_sid)
    if participant is None or participant.left:
        raise _not_found()
    return participant


def _conference_json(conference: ConferenceState) -> dict[str, Any]:
    config = _carrier().config
    uri = f"{API}/Accounts/{config.account_sid}/Conferences/{conference.sid}.json"
    return {
        "sid": conference.sid,
        "account_sid": config.account_sid,
        "friendly_name": conference.name,
        "status": conference.status,
        "api_version": "2010-04-01",
        "date_created": rfc2822(conference.date_created),
        "date_updated": rfc2822(conference.date_updated),
        "region": "us1",
        "reason_conference_ended": conference.reason_ended,
        "call_sid_ending_conference": None,
        "uri": uri,
        "subresource_uris": {
            "participants": uri.replace(".json", "/Participants.json"),
            "recordings": uri.replace(".json", "/Recordings.json"),
        },
    }


def _participant_json(participant: Participant) -> dict[str, Any]:
    config = _carrier().config
    conference = participant.conference
    call = participant.call
    return {
        "account_sid": config.account_sid,
        "call_sid": call.sid,
        "conference_sid": conference.sid,
        "label": participant.label,
        "call_sid_to_coach": participant.call_sid_to_coach,
        "coaching": participant.coaching,
        "muted": participant.muted,
        "hold": participant.hold,
        "start_conference_on_enter": participant.start_conference_on_enter,
        "end_conference_on_exit": participant.end_conference_on_exit,
        "status": participant.status,
        "queue_time": None,
        "date_created": rfc2822(participant.date_created),
        "date_updated": rfc2822(utcnow()),
        "uri": (
            f"{API}/Accounts/{config.account_sid}/Conferences/{conference.sid}"
            f"/Participants/{call.sid}.json"
        ),
    }


# Queues ------------------------------------------------------------------------


@rest.get("/Queues.json")
def list_queues(account_sid: str) -> Response:
    with _board().lock:
        queues = [_queue_json(queue) for queue in _board().queues.values()]
    return _page("queues", queues)


@rest.post("/Queues.json")
def create_queue(account_sid: str) -> tuple[Response, int]:
    name = _require("FriendlyName", 21201)
    max_size = request.form.get("MaxSize")
    with _board().lock:
        queue = _board().queue(name, int(max_size) if max_size else None)
        return jsonify(_queue_json(queue)), 201


@rest.get("/Queues/<queue_sid>.json")
def fetch_queue(account_sid: str, queue_sid: str) -> Response:
    with _board().lock:
        return jsonify(_queue_json(_queue(queue_sid)))


@rest.get("/Queues/<queue_sid>/Members.json")
def list_members(account_sid: str, queue_sid: str) -> Response:
    with _board().lock:
        queue = _queue(queue_sid)
        members = [_member_json(queue, call) for call in queue.members]
    return _page("queue_members", members)


@rest.get("/Queues/<queue_sid>/Members/<call_sid>.json")
def fetch_member(account_sid: str, queue_sid: str, call_sid: str) -> Response:
    with _board().lock:
        queue = _queue(queue_sid)
        return jsonify(_member_json(queue, _member(queue, call_sid)))


@rest.post("/Queues/<queue_sid>/Members/<call_sid>.json")
def dequeue_member(account_sid: str, queue_sid: str, call_sid: str) -> Response:
    """Sends one caller (or the front one) to new TwiML: it leaves the queue."""
    url = _require("Url", 21205, "Url parameter is required.")
    target = Fetch(url, _method("Method"))
    with _board().lock:
        queue = _queue(queue_sid)
        call = _member(queue, call_sid)
        body = _member_json(queue, call)
        _board().redirect(call, target)
        return jsonify(body)


def _queue(queue_sid: str) -> QueueState:
    queue = _board().queue_by_sid(queue_sid)
    if queue is None:
        raise _not_found()
    return queue


def _member(queue: QueueState, call_sid: str) -> Call:
    if call_sid == "Front":
        if queue.members:
            return queue.members[0]
    else:
        for call in queue.members:
            if call.sid == call_sid:
                return call
    raise _not_found()


def _queue_json(queue: QueueState) -> dict[str, Any]:
    config = _carrier().config
    uri = f"{API}/Accounts/{config.account_sid}/Queues/{queue.sid}.json"
    return {
        "sid": queue.sid,
        "account_sid": config.account_sid,
        "friendly_name": queue.name,
        "current_size": len(queue.members),
        "max_size": queue.max_size,
        "average_wait_time": queue.average_wait(),
        "date_created": rfc2822(queue.date_created),
        "date_updated": rfc2822(utcnow()),
        "uri": uri,
        "subresource_uris": {"members": uri.replace(".json", "/Members.json")},
    }


def _member_json(queue: QueueState, call: Call) -> dict[str, Any]:
    config = _carrier().config
    board = _board()
    return {
        "call_sid": call.sid,
        "queue_sid": queue.sid,
        "position": queue.members.index(call) + 1,
        "wait_time": round(board.simulated_seconds(call.enqueued_at)),
        "date_enqueued": rfc2822(utcnow()),
        "uri": (
            f"{API}/Accounts/{config.account_sid}/Queues/{queue.sid}"
            f"/Members/{call.sid}.json"
        ),
    }


# Recordings --------------------------------------------------------------------


@rest.get("/Recordings.json")
def list_recordings(account_sid: str) -> Response:
    call_sid = request.args.get("CallSid")
    with _board().lock:
        recordings = [
            _recording_json(recording)
            for recording in _board().recordings.values()
            if call_sid is None or recording.call_sid == call_sid
        ]
    return _page("recordings", recordings)


@rest.get("/Calls/<call_sid>/Recordings.json")
def list_call_recordings(account_sid: str, call_sid: str) -> Response:
    with _board().lock:
        _call(call_sid)
        recordings = [
            _recording_json(recording)
            for recording in _board().recordings.values()
            if recording.call_sid == call_sid
        ]
    return _page("recordings", recordings)


@rest.get("/Recordings/<filename>")
def fetch_recording(account_sid: str, filename: str) -> Response:
    """`RE….json` is the resource; `RE…`, `RE….wav` and `RE….mp3` the audio."""
    sid, _, extension = filename.partition(".")
    with _board().lock:
        recording = _board().recordings.get(sid)
        if recording is None or extension not in ("", "json", "wav", "mp3"):
            raise _not_found()
        if extension == "json":
            return jsonify(_recording_json(recording))
        if recording.status != "completed":
            raise _not_found()
        seconds = recording.duration
    if extension == "mp3":
        return Response(mp3_bytes(seconds), mimetype="audio/mpeg")
    return Response(wav_bytes(seconds), mimetype="audio/x-wav")


@rest.delete("/Recordings/<filename>")
def delete_recording(account_sid: str, filename: str) -> Response:
    sid = filename.removesuffix(".json")
    with _board().lock:
        if _board().recordings.pop(sid, None) is None:
            raise _not_found()
    return Response(status=204)


def _is_media(view_args: dict[str, Any] | None) -> bool:
    filename = str((view_args or {}).get("filename", ""))
    return not filename.endswith(".json")


def _recording_json(recording: RecordingState) -> dict[str, Any]:
    carrier = _carrier()
    account = carrier.config.account_sid
    uri = f"{API}/Accounts/{account}/Recordings/{recording.sid}.json"
    return {
        "sid": recording.sid,
        "account_sid": recording.account_sid,
        "call_sid": recording.call_sid,
        "conference_sid": None,
        "api_version": "2010-04-01",
        "date_created": rfc2822(recording.date_created),
        "date_updated": rfc2822(recording.date_created),
        "start_time": rfc2822(recording.start_time),
        "duration": str(recording.duration),
        "channels": 1,
        "source": "RecordVerb",
        "status": recording.status,
        "error_code": recording.error_code,
        "price": None,
        "price_unit": "USD",
        "track": "both",
        "encryption_details": None,
        "media_url": carrier.recording_url(recording.sid),
        "uri": uri,
        "subresource_uris": {
            "add_on_results": uri.replace(".json", "/AddOnResults.json"),
            "transcriptions": uri.replace(".json", "/Transcriptions.json"),
        },
    }


# Messages ----------------------------------------------------------------------


@rest.post("/Messages.json")
def create_message(account_sid: str) -> tuple[Response, int]:
    to = _require("To", 21604, "A 'To' phone number is required.")
    from_number = request.form.get("From") or request.form.get("MessagingServiceSid")
    if not from_number:
        raise ApiError(400, 21603, "A 'From' phone number is required.")
    body = _require("Body", 21602, "Message body is required.")
    carrier = _carrier()
    sid = new_sid("SM")
    carrier.record_message({"to": to, "from": from_number, "body": body, "sid": sid})
    now = rfc2822(utcnow())
    config = carrier.config
    return (
        jsonify(
            {
                "sid": sid,
                "account_sid": config.account_sid,
                "to": to,
                "from": from_number,
                "body": body,
                "status": "queued",
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "num_segments": "1",
                "num_media": "0",
                "price": None,
                "price_unit": "USD",
                "error_code": None,
                "error_message": None,
                "messaging_service_sid": request.form.get("MessagingServiceSid"),
                "date_created": now,
                "date_updated": now,
                "date_sent": None,
                "uri": f"{API}/Accounts/{config.account_sid}/Messages/{sid}.json",
            }
        ),
        201,
    )
