"""The services' APIs, called with the signed-in person's own access token.

Each service keeps deciding what this person may see and do (kind, role, municipality) and
writes its own access log under their name; the console adds no rights of its own. What an API
answers becomes one of a few outcomes a page can show: the body, a refusal with the service's
reason (problem+json `detail` and field errors), or "not available right now"."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx


class SignInNeeded(Exception):  # noqa: N818 - an outcome, not a failure of the console
    """401 from a service: the token expired or was refused; sign in again."""


@dataclass
class Refused(Exception):  # noqa: N818
    """A 4xx the person can act on (403, 404, 409, 410, 422) with the service's own reason."""

    status: int
    detail: str
    errors: list[dict[str, Any]] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.status}: {self.detail}"


class Unavailable(Exception):  # noqa: N818
    """The service did not answer, or answered 5xx: try again later (never a 500 page)."""


@dataclass
class Api:
    """One service's API for one request, with the person's bearer token."""

    http: httpx.AsyncClient
    base_url: str
    token: str

    async def call(
        self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        try:
            answer = await self.http.request(
                method,
                f"{self.base_url.rstrip('/')}{path}",
                json=json,
                params={k: v for k, v in (params or {}).items() if v not in (None, "")},
                headers={"Authorization": f"Bearer {self.token}"},
            )
        except httpx.HTTPError as exc:
            raise Unavailable(str(type(exc).__name__)) from exc
        if answer.status_code == 401:
            raise SignInNeeded
        if answer.status_code >= 500:
            raise Unavailable(f"status {answer.status_code}")
        if answer.status_code >= 400:
            problem = _problem(answer)
            raise Refused(
                status=answer.status_code,
                detail=str(problem.get("detail") or problem.get("title") or answer.reason_phrase),
                errors=list(problem.get("errors") or []),
            )
        if answer.status_code == 204 or not answer.content:
            return None
        return answer.json()

    async def get(self, path: str, **params: Any) -> Any:
        return await self.call("GET", path, params=params)

    async def post(self, path: str, body: Any) -> Any:
        return await self.call("POST", path, json=body)

    async def delete(self, path: str) -> Any:
        return await self.call("DELETE", path)


def _problem(answer: httpx.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
