"""The console's pure parts: the queue's sections, PKCE, redirects that stay on the site."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr, ValidationError
from signaalpunt_access.dev_tokens import generate_key_pair
from signaalpunt_console.backend import Refused
from signaalpunt_console.config import ConsoleSettings
from signaalpunt_console.oidc import Attempt
from signaalpunt_console.pages import local_path, local_time, refusal
from signaalpunt_console.queues import sections
from signaalpunt_console.sessions import csrf_valid
from signaalpunt_console.web import build_app


def case(signal: str, route: str, due: str, **extra: object) -> dict[str, object]:
    return {
        "signal_id": signal,
        "route": route,
        "priority": "normal",
        "first_contact_due": due,
        **extra,
    }


def test_acute_first_then_to_review_then_by_deadline() -> None:
    got = sections(
        [
            case("late", "team_welzijn", "2026-12-10T09:00:00+00:00"),
            case("soon", "team_eenzaamheid", "2026-12-03T09:00:00+00:00", overdue=True),
            case("review", "mogelijk_acuut", "2026-12-04T09:00:00+00:00", needs_review=True),
            case("acute", "acuut", "2026-12-02T10:00:00+00:00", priority="acute"),
        ]
    )
    assert [(s.key, [c["signal_id"] for c in s.cases]) for s in got] == [
        ("acute", ["acute"]),
        ("to_review", ["review"]),
        ("by_deadline", ["soon", "late"]),
    ]
    assert [s.overdue for s in got] == [0, 0, 1]


def test_pkce_challenge_is_rfc_7636s_s256() -> None:
    # RFC 7636, appendix B
    attempt = Attempt("s", "n", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
    assert attempt.code_challenge == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    fresh = Attempt.new()
    assert 43 <= len(fresh.code_verifier) <= 128
    assert fresh.state != Attempt.new().state


def test_after_sign_in_only_paths_on_this_site() -> None:
    assert local_path("/cases/1?x=2") == "/cases/1?x=2"
    for outside in (
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example/x",
        "javascript:alert(1)",
        None,
    ):
        assert local_path(outside) == "/queue"


def test_csrf_token_must_match_the_sessions() -> None:
    assert csrf_valid({"csrf": "abc"}, "abc")
    assert not csrf_valid({"csrf": "abc"}, "abd")
    assert not csrf_valid({}, "abc")
    assert not csrf_valid({"csrf": "abc"}, None)


def test_production_refuses_the_development_session_secret_and_plain_http() -> None:
    with pytest.raises(ValidationError, match="session_secret"):
        ConsoleSettings(environment="production", public_url="https://console.example")
    with pytest.raises(ValidationError, match="Secure"):
        ConsoleSettings(
            environment="production",
            public_url="http://console.example",
            session_secret=SecretStr("x" * 40),
        )


async def test_the_session_cookie_is_httponly_lax_and_secure_behind_https(tmp_path: Path) -> None:
    generate_key_pair(tmp_path)
    settings = ConsoleSettings(
        public_url="https://console.example", jwks_file=tmp_path / "jwks.json"
    )
    transport = httpx.ASGITransport(app=build_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="https://console.example") as c:
        answer = await c.get("/signed-out?lang=en")
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "secure" in cookie
    assert answer.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert "You are signed out" in answer.text


def test_times_are_shown_in_amsterdam_time() -> None:
    # the APIs answer in UTC; a coordinator reads Dutch time (winter +1, summer +2)
    assert local_time("2026-12-02T14:00:00+00:00") == "02-12-2026 15:00"
    assert local_time("2026-07-01T10:00:00Z", "%H:%M") == "12:00"
    assert local_time(None) == ""


def test_a_refusal_kept_for_the_next_page_stays_small() -> None:
    # it rides in the session cookie, which browsers drop past 4 KB
    many = [{"field": f"f{i}", "reason_nl": "x" * 1000, "reason_en": "y" * 1000} for i in range(50)]
    flash = refusal("Niet gelukt", Refused(422, "z" * 5000, many))
    assert len(str(flash)) < 1100
    assert flash["errors"][0]["field"] == "f0"


def test_an_import_reads_the_files_with_the_services_own_readers() -> None:
    import json

    from signaalpunt_console.imports import (
        MAX_FILE_BYTES,
        ImportFileError,
        social_map_document,
        where_in_file,
    )
    from signaalpunt_referral.config import DEMO_MAP
    from signaalpunt_referral.hsds import to_tables

    document = json.loads(DEMO_MAP.read_text(encoding="utf-8"))
    as_json, form = social_map_document([("kaart.json", DEMO_MAP.read_bytes())])
    assert (as_json, form) == (document, "json")
    # the HSDS CSV tables chosen together, as the social-map CLI reads a folder of them
    tables = [(f"map/{name}", text.encode()) for name, text in to_tables(document).items()]
    from_csv, form = social_map_document(tables)
    assert form == "csv"
    assert [o["id"] for o in from_csv] == [o["id"] for o in document]
    for files, reason in (
        ([("kaart.json", b'{"not": "a list"}')], "list"),
        ([("kaart.json", b"\xff\xfe")], "UTF-8"),
        ([("services.csv", b"id\n")], "organizations.csv"),
        ([("kaart.json", b" " * (MAX_FILE_BYTES + 1))], "larger than"),
    ):
        with pytest.raises(ImportFileError, match=reason):
            social_map_document(files)
    # referral numbers organisations within a batch: their place in the file
    assert where_in_file("organization 2, service 1", 50, "csv") == (
        "organization 52 (organizations.csv line 53), service 1"
    )
    assert where_in_file("organization Humanitas", 50, "json") == "organization Humanitas"


def test_codes_in_words_and_an_unknown_one_as_it_is() -> None:
    from signaalpunt_console.labels import wording

    dutch, english = wording("nl"), wording("en")
    assert dutch("template:coordinator_acute_alert") == "acuut-alarm"
    assert english("referral:accepted") == "accepted"
    assert dutch("referral:accepted") == "geaccepteerd"
    assert dutch("match:accepted") == "vrijwilliger zegt ja"  # the same code, another word
    assert dutch("template:a_new_template") == "a_new_template"
