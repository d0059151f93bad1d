"""Notifiers: where alerts go. The log (always), and webhooks speaking Alertmanager's format.

A webhook receives what Alertmanager's webhook receiver sends (version 4): a JSON body with
`status` (firing or resolved), `groupKey`, `groupLabels`, `commonLabels`, `commonAnnotations`
and `alerts`, each with its own `status`, `labels`, `annotations`, `startsAt`, `endsAt` and a
stable `fingerprint`; so anything that takes Alertmanager's webhooks takes ours. Deliveries are
retried with exponential backoff (tenacity) on connection errors, timeouts, 429 and 5xx; a 4xx
is the receiver refusing the body and is not retried. A delivery that still fails raises
`DeliveryError`, which the evaluator logs and records as not delivered (it is sent again at the
next evaluation): it never ends the evaluation.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from lakehouse.config import Settings, WebhookSettings
from lakehouse.exceptions import ConfigError, LakehouseError

log = logging.getLogger("lakehouse.alerts")

Severity = Literal["warning", "critical"]
SEVERITY_RANK: dict[str, int] = {"warning": 1, "critical": 2}
USER_AGENT = "lakehouse-alerts/1"


class DeliveryError(LakehouseError):
    """A notifier could not deliver a notification (after its retries)."""

    transient = True


@dataclass(frozen=True)
class Notice:
    """One alert as a notifier receives it."""

    fingerprint: str
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: str
    ends_at: str  # "0001-01-01T00:00:00Z" while firing, as Alertmanager sends it


class Notifier(Protocol):
    name: str
    min_severity: Severity

    def send(self, group: str, notices: Sequence[Notice]) -> None: ...


def alertmanager_payload(receiver: str, group: str, notices: Sequence[Notice]) -> dict[str, Any]:
    """The body Alertmanager's webhook receiver posts, for one group of alerts."""

    def common(kind: str) -> dict[str, str]:
        dicts = [getattr(n, kind) for n in notices]
        return {k: v for k, v in dicts[0].items() if all(d.get(k) == v for d in dicts[1:])} if dicts else {}

    status = "firing" if any(n.status == "firing" for n in notices) else "resolved"
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{group}"}}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": {"alertname": group},
        "commonLabels": common("labels"),
        "commonAnnotations": common("annotations"),
        "externalURL": "",
        "alerts": [
            {"status": n.status, "labels": n.labels, "annotations": n.annotations, "startsAt": n.starts_at,
             "endsAt": n.ends_at, "generatorURL": "", "fingerprint": n.fingerprint}
            for n in notices
        ],
    }


class LogNotifier:
    """Every notification as one log line (logger `lakehouse.alerts`)."""

    name = "log"
    min_severity: Severity = "warning"

    def send(self, group: str, notices: Sequence[Notice]) -> None:
        for n in notices:
            level = logging.WARNING if n.status == "firing" else logging.INFO
            where = ", ".join(f"{k}={v}" for k, v in sorted(n.labels.items()) if k not in ("alertname", "severity"))
            log.log(level, "%s %s [%s] %s: %s", n.status.upper(), group, n.labels.get("severity", "-"), where,
                    n.annotations.get("summary", ""))


class _Retryable(Exception):
    pass


class _Refused(Exception):
    pass


class WebhookNotifier:
    """POSTs Alertmanager-format JSON to a URL, with retries and backoff.

    urllib (standard library) rather than an HTTP client package: one JSON POST per group needs
    nothing more, and the core keeps no HTTP client dependency.
    """

    def __init__(self, cfg: WebhookSettings, *, attempts: int = 4, backoff_s: float = 0.5) -> None:
        self.cfg = cfg
        self.name = cfg.name or cfg.url
        self.min_severity: Severity = cfg.min_severity
        self.attempts = attempts
        self.backoff_s = backoff_s

    def send(self, group: str, notices: Sequence[Notice]) -> None:
        body = json.dumps(alertmanager_payload(self.name, group, notices)).encode()
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.backoff_s, max=max(self.backoff_s, 8.0)),
            retry=retry_if_exception(lambda e: isinstance(e, _Retryable)),
            reraise=True,
        )
        try:
            retrying(self._post, body)
        except (_Retryable, _Refused) as exc:
            raise DeliveryError(f"webhook {self.name}: {exc}", hint="it is sent again at the next evaluation") from exc

    def _post(self, body: bytes) -> None:
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **self.cfg.headers}
        request = urllib.request.Request(self.cfg.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.cfg.timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            exc.close()  # it holds the response (and its socket) open
            if exc.code == 429 or exc.code >= 500:
                raise _Retryable(f"HTTP {exc.code}") from None
            raise _Refused(f"HTTP {exc.code} {exc.reason}") from None  # retrying cannot help
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            raise _Retryable(str(getattr(exc, "reason", exc))) from exc


def default_notifiers(settings: Settings) -> list[Notifier]:
    m = settings.monitoring
    out: list[Notifier] = [LogNotifier()] if m.log_alerts else []
    for hook in m.webhooks:
        out.append(WebhookNotifier(hook, attempts=m.webhook_attempts, backoff_s=m.webhook_backoff_s))
    names = [n.name for n in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"monitoring.webhooks: two receivers named {dupes[0]}", hint="give each a distinct name")
    return out
