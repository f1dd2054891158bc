"""The business API's errors, as the GSMA Mobile Money API 1.2 names them: every refusal is an
`errorObject` (errorCategory, errorCode, errorDescription, errorDateTime, errorParameters) with the
HTTP status its category implies. Raised as `ApiError` anywhere below a route; the router renders it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum

from daemon.clock import NS_PER_S


class ErrorCategory(StrEnum):
    BUSINESS_RULE = "businessRule"
    VALIDATION = "validation"
    AUTHORISATION = "authorisation"
    IDENTIFICATION = "identification"
    INTERNAL = "internal"
    SERVICE_UNAVAILABLE = "serviceUnavailable"


# The HTTP status of each category (the specification's responses: 400, 401, 404, 500, 503).
CATEGORY_STATUS = {
    ErrorCategory.BUSINESS_RULE: 400,
    ErrorCategory.VALIDATION: 400,
    ErrorCategory.AUTHORISATION: 401,
    ErrorCategory.IDENTIFICATION: 404,
    ErrorCategory.INTERNAL: 500,
    ErrorCategory.SERVICE_UNAVAILABLE: 503,
}

DESCRIPTION_MAX_CHARS = 256  # the specification's bound on errorDescription


def iso_time(now_ns: int) -> str:
    """A timestamp as the specification writes date-times (UTC, milliseconds)."""
    moment = datetime.fromtimestamp(now_ns / NS_PER_S, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ApiError(Exception):
    """A refusal the client is told about: `code` is one of the specification's errorCode values
    (genericError, duplicateRequest, insufficientFunds, formatError ...). `description` is for the
    client's developer, never a secret; `parameters` become errorParameters (key/value pairs)."""

    def __init__(
        self,
        category: ErrorCategory,
        code: str,
        description: str,
        parameters: Mapping[str, str] | None = None,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{category.value}/{code}: {description}")
        self.category = category
        self.code = code
        self.description = description[:DESCRIPTION_MAX_CHARS]
        self.parameters = dict(parameters or {})
        self.status = status if status is not None else CATEGORY_STATUS[category]
        self.headers = dict(headers or {})

    def body(self, now_ns: int) -> dict:
        """The errorObject."""
        body: dict = {
            "errorCategory": self.category.value,
            "errorCode": self.code,
            "errorDescription": self.description,
            "errorDateTime": iso_time(now_ns),
        }
        if self.parameters:
            body["errorParameters"] = [
                {"key": key, "value": str(value)} for key, value in self.parameters.items()
            ]
        return body


def validation_error(code: str, field: str, description: str) -> ApiError:
    return ApiError(ErrorCategory.VALIDATION, code, description, {"field": field})


def not_found(what: str, value: str) -> ApiError:
    return ApiError(
        ErrorCategory.IDENTIFICATION, "genericError", f"{what} not found", {what: value}
    )
