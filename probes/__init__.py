"""The resilient core: breaker, retry, outcome classifier and the resilient httpx client.

Every probe and every adapter call goes through these. The public names are re-exported
here; `tests/test_public_api.py` pins the list.
"""

from probes._settings import InvalidSetting
from probes.breaker import (
    Breaker,
    BreakerConfig,
    BreakerOpen,
    BreakerSnapshot,
    Cause,
    Permit,
    Rejection,
    State,
    Transition,
)
from probes.hints import parse_retry_after, retry_hint
from probes.http import AttemptEvent, RequestFailed, ResilientClient, Result
from probes.outcome import (
    InvalidResponse,
    Kind,
    Outcome,
    ProbeAssertionFailed,
    Reason,
    ResponseTooLarge,
    classify,
)
from probes.redact import Redactor
from probes.retry import Retrier, RetryBudget, RetryPolicy, Stop

__all__ = [
    "AttemptEvent",
    "Breaker",
    "BreakerConfig",
    "BreakerOpen",
    "BreakerSnapshot",
    "Cause",
    "InvalidResponse",
    "InvalidSetting",
    "Kind",
    "Outcome",
    "Permit",
    "ProbeAssertionFailed",
    "Reason",
    "Redactor",
    "Rejection",
    "RequestFailed",
    "ResilientClient",
    "ResponseTooLarge",
    "Result",
    "Retrier",
    "RetryBudget",
    "RetryPolicy",
    "State",
    "Stop",
    "Transition",
    "classify",
    "parse_retry_after",
    "retry_hint",
]
