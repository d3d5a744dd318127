"""Input and output shapes for services and service requests (Open311 field names)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, model_validator

from shared.service_requests.models import RequestStatus


class RequestInvalid(ValueError):
    """A request that the catalogue or the spec does not allow (Open311 error 400)."""


class AttributeOption(BaseModel):
    """One allowed value of a list attribute."""

    key: str
    name: str


class ServiceAttribute(BaseModel):
    """An Open311 attribute definition."""

    variable: bool = True
    code: str
    datatype: str  # string, number, datetime, text, singlevaluelist, multivaluelist
    required: bool = False
    datatype_description: str = ""
    order: int
    description: str
    values: list[AttributeOption] = []


class ServiceRead(BaseModel):
    """A service as Open311's services list shows it."""

    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: str
    keywords: str
    group: str


class ServiceDefinition(BaseModel):
    """A service's attribute definitions (Open311 service definition)."""

    service_code: str
    attributes: list[ServiceAttribute]


class Contact(BaseModel):
    """Reporter contact details an Open311 client may send; private."""

    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    device_id: str | None = None
    account_id: str | None = None


class RequestCreate(BaseModel):
    """A new service request: a service, exactly one location, and optional details."""

    service_code: str = Field(min_length=1, max_length=64)
    lat: float | None = Field(default=None, ge=-90, le=90)
    long: float | None = Field(default=None, ge=-180, le=180)
    address_string: str | None = Field(default=None, min_length=1, max_length=500)
    address_id: str | None = Field(default=None, min_length=1, max_length=100)
    description: str = Field(default="", max_length=4000)
    attributes: dict[str, str | list[str]] = {}
    media_url: str | None = Field(default=None, max_length=1000)
    contact: Contact = Contact()

    @model_validator(mode="after")
    def _one_location(self) -> RequestCreate:
        if (self.lat is None) != (self.long is None):
            raise ValueError("give both lat and long")
        given = sum(
            [self.lat is not None, self.address_string is not None, self.address_id is not None]
        )
        if given != 1:
            raise ValueError("give exactly one location: lat/long, address_string or address_id")
        return self


class RequestQuery(BaseModel):
    """Filters of Open311's GET requests (plus a bbox extension)."""

    ids: list[int] | None = None
    service_codes: list[str] | None = None
    start: datetime | None = None
    end: datetime | None = None
    statuses: list[RequestStatus] | None = None
    bbox: tuple[float, float, float, float] | None = None  # min lon, min lat, max lon, max lat
    limit: int = Field(default=1000, ge=1, le=1000)


class Open311Request(BaseModel):
    """A request as Open311's GET requests shows it (public fields only)."""

    service_request_id: str
    status: str  # open or closed
    status_notes: str | None
    service_name: str
    service_code: str
    description: str | None
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: str
    updated_datetime: str
    expected_datetime: str | None
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float | None
    long: float | None
    media_url: str | None


class StatusChangeRead(BaseModel):
    """One step of the public status history."""

    status: RequestStatus
    note: str
    changed_at: datetime


class MediaRead(BaseModel):
    """A stored photo and its thumbnail."""

    id: int
    url: str
    thumbnail_url: str
    content_type: str
    width: int
    height: int


class ReportRead(BaseModel):
    """A citizen's own report with full status history (the app's "my reports")."""

    id: int
    token: str
    service_code: str
    service_name: str
    status: RequestStatus
    status_notes: str
    description: str
    lat: float | None
    long: float | None
    address_string: str | None
    attributes: dict[str, str | list[str]]
    requested_at: datetime
    updated_at: datetime
    is_reporter: bool
    history: list[StatusChangeRead]
    media: list[MediaRead]


class HistoryEntry(BaseModel):
    """One step of the history as staff see it: with who made it (the audit trail)."""

    status: RequestStatus
    note: str
    actor: str
    changed_at: datetime


class RequestQueueItem(BaseModel):
    """A request in the console's queue (staff view: no reporter contact details)."""

    id: int
    service_code: str
    service_name: str
    status: RequestStatus
    status_notes: str
    description: str
    district_id: int | None
    district_code: str | None
    address: str | None
    lat: float | None
    long: float | None
    photos: int
    requested_at: datetime
    updated_at: datetime
    history: list[HistoryEntry]


class DuplicateMatch(BaseModel):
    """An open request that a new report may duplicate."""

    service_request_id: int
    service_code: str
    status: RequestStatus
    description: str
    distance_m: float
    requested_at: datetime
    lat: float
    long: float


def w3c(ts: datetime | None) -> str | None:
    """Return a timestamp as W3C/ISO 8601 with its offset (Open311's datetime format)."""
    return ts.isoformat(timespec="seconds") if ts is not None else None


def open311_status(status: str) -> str:
    """Return Open311's status (open or closed) for one of ours."""
    return "closed" if status == RequestStatus.closed.value else "open"
