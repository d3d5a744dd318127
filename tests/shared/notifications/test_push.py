"""Status change and area alert -> push, through firebase-admin against a local fake FCM."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import shared.notifications.models  # noqa: F401
from shared.alerts.models import AlertStatus, Severity
from shared.alerts.schemas import AlertChange, AlertRead
from shared.notifications import service as ns
from shared.notifications.flows import push_area_alert, push_status_change
from shared.notifications.models import DeviceToken
from shared.notifications.notifier import FirebaseNotifier
from shared.sensing.models import SensorType
from shared.service_requests import flows as sr_flows
from shared.service_requests.models import RequestStatus
from shared.service_requests.schemas import RequestCreate
from shared.service_requests.service import create_request, follow_request
from tests.shared.service_requests.conftest import catalogue, make_citizen  # noqa: F401

DEAD = "token-unregistered"
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"


class FakeFCM:
    """Records FCM v1 send calls; answers UNREGISTERED for DEAD."""

    def __init__(self) -> None:
        self.sent: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.sent.append({"path": self.path, **body})
                if body["message"]["token"] == DEAD:
                    code, out = (
                        404,
                        {
                            "error": {
                                "code": 404,
                                "status": "NOT_FOUND",
                                "message": "Requested entity was not found.",
                                "details": [
                                    {
                                        "@type": FCM_ERROR,
                                        "errorCode": "UNREGISTERED",
                                    }
                                ],
                            }
                        },
                    )
                else:
                    code, out = 200, {"name": f"projects/demo/messages/{len(fake.sent)}"}
                data = json.dumps(out).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"


@pytest.fixture(scope="module")
def fcm() -> Iterator[tuple[FakeFCM, FirebaseNotifier]]:
    """The one place that patches firebase-admin's private names (pinned firebase-admin==7.7.*)."""
    import firebase_admin
    from firebase_admin import _utils, credentials, messaging

    class EmulatorCredential(credentials.Base):
        def get_credential(self):  # type: ignore[no-untyped-def]
            return _utils.EmulatorAdminCredentials()

    fake = FakeFCM()
    threading.Thread(target=fake.server.serve_forever, daemon=True).start()
    saved = messaging._MessagingService.FCM_URL
    messaging._MessagingService.FCM_URL = fake.url + "/v1/projects/{0}/messages:send"
    app = firebase_admin.initialize_app(
        EmulatorCredential(), {"projectId": "demo"}, name="push-test"
    )
    try:
        yield fake, FirebaseNotifier(app)
    finally:
        firebase_admin.delete_app(app)
        messaging._MessagingService.FCM_URL = saved
        fake.server.shutdown()


def test_status_change_pushes_exact_message_in_locale_and_prunes(catalogue, fcm) -> None:  # noqa: F811
    fake, notifier = fcm
    fake.sent.clear()
    reporter, follower = make_citizen(catalogue), make_citizen(catalogue)
    req = create_request(
        session=catalogue,
        actor="t",
        reporter_citizen_id=reporter.id,
        data=RequestCreate(service_code="graffiti", lat=52.4321, long=13.5452),
    )
    follow_request(session=catalogue, request_id=req.id, citizen_id=follower.id)
    ns.register_device(
        session=catalogue,
        citizen_id=reporter.id,
        token="tok-de",
        platform="android",
        locale="de-AT",
    )
    ns.register_device(
        session=catalogue, citizen_id=follower.id, token=DEAD, platform="ios", locale="en"
    )
    change = sr_flows.change_request_status(
        session=catalogue,
        request_id=req.id,
        status=RequestStatus.acknowledged,
        note="Team kommt Montag.",
        actor="alice",
        notify=None,
    )
    results = push_status_change(session=catalogue, notifier=notifier, change_id=change.id)
    assert [(r.token, r.ok, r.unregistered) for r in results] == [
        ("tok-de", True, False),
        (DEAD, False, True),
    ]
    sent = sorted(fake.sent, key=lambda m: m["message"]["token"])
    assert sent[0] == {
        "path": "/v1/projects/demo/messages:send",
        "message": {
            "token": "tok-de",
            "notification": {
                "title": "Ihre Meldung: Graffiti",
                "body": "Wir haben Ihre Meldung gesehen und kümmern uns darum. Team kommt Montag.",
            },
            "data": {
                "kind": "service_request.status",
                "service_request_id": str(req.id),
                "status": "acknowledged",
            },
        },
    }
    assert sent[1]["message"]["notification"]["title"] == "Your report: Graffiti"
    tokens = {d.token for d in catalogue.query(DeviceToken)}
    assert "tok-de" in tokens and DEAD not in tokens  # the dead token was pruned


def test_area_alert_reaches_district_and_circle_subscribers_only(catalogue, fcm) -> None:  # noqa: F811
    fake, notifier = fcm
    fake.sent.clear()
    from shared.districts.service import district_at

    lon, lat = 13.5452, 52.4321
    district = district_at(session=catalogue, lon=lon, lat=lat)
    by_district, by_circle, far = (
        make_citizen(catalogue, locale=loc) for loc in ("en", "de", "en")
    )
    ns.subscribe_area(session=catalogue, citizen_id=by_district.id, district_id=district.id)
    ns.subscribe_area(
        session=catalogue, citizen_id=by_circle.id, lon=lon + 0.001, lat=lat, radius_m=200
    )
    ns.subscribe_area(session=catalogue, citizen_id=far.id, lon=lon + 0.05, lat=lat, radius_m=200)
    for c, tok in ((by_district, "a-en"), (by_circle, "b-de"), (far, "c-far")):
        ns.register_device(
            session=catalogue, citizen_id=c.id, token=tok, platform="web", locale=c.locale
        )
    now = datetime.now(UTC)
    alert = AlertRead(
        id=77,
        rule_id=1,
        rule_name="PM2.5",
        thing_id=1,
        thing_code="AQ-01",
        datastream_id=None,
        district_id=district.id,
        district_code=district.code,
        sensor_type=SensorType.air_quality,
        metric="pm25",
        severity=Severity.critical,
        status=AlertStatus.open,
        value=61.0,
        message="",
        opened_at=now,
        updated_at=now,
        lon=lon,
        lat=lat,
    )
    change = AlertChange(event="alert.raised", action="opened", alert=alert)
    results = push_area_alert(session=catalogue, notifier=notifier, change=change)
    assert sorted(r.token for r in results) == ["a-en", "b-de"]
    by_token = {m["message"]["token"]: m["message"] for m in fake.sent}
    assert by_token["a-en"]["notification"] == {
        "title": f"Critical: pm25 in {district.code}",
        "body": "pm25 is 61 near AQ-01.",
    }
    assert by_token["b-de"]["notification"] == {
        "title": f"Kritisch: pm25 in {district.code}",
        "body": "pm25 beträgt 61 in der Nähe von AQ-01.",
    }
    assert by_token["a-en"]["data"] == {
        "kind": "alert",
        "alert_id": "77",
        "action": "opened",
        "severity": "critical",
    }


def test_tasks_are_registered_on_the_push_queue() -> None:
    from shared.notifications import tasks
    from shared.tasks.celery_app import celery_app

    assert tasks.notify_area_alert.name in celery_app.tasks
    route = celery_app.amqp.router.route({}, "notify.request_status")
    assert route["queue"].name == "push"
