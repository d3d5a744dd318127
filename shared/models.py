"""Import every ORM model so that the metadata is complete (Alembic, tests, scripts)."""

from shared.accounts.models import ApiClient, Citizen, StaffUser
from shared.districts.models import District, Jurisdiction
from shared.roads.models import Intersection, RoadSegment
from shared.sensing.models import (
    Datastream,
    FeatureOfInterest,
    HistoricalLocation,
    Location,
    Observation,
    ObservedProperty,
    Sensor,
    Thing,
)

__all__ = [
    "ApiClient",
    "Citizen",
    "Datastream",
    "District",
    "FeatureOfInterest",
    "HistoricalLocation",
    "Intersection",
    "Jurisdiction",
    "Location",
    "Observation",
    "ObservedProperty",
    "RoadSegment",
    "Sensor",
    "StaffUser",
    "Thing",
]

from shared.alerts.models import Alert, AlertEvent, AlertRule
from shared.sensing.models import (
    DatastreamLatest,
    DeadLetter,
    DeviceCredential,
    ObservationDaily,
    ObservationHourly,
)

__all__ += [
    "Alert",
    "AlertEvent",
    "AlertRule",
    "DatastreamLatest",
    "DeadLetter",
    "DeviceCredential",
    "ObservationDaily",
    "ObservationHourly",
]

from shared.notifications.models import AreaSubscription, DeviceToken  # noqa: E402
from shared.service_requests.models import (  # noqa: E402
    RequestFollower,
    RequestMedia,
    Service,
    ServiceRequest,
    StatusChange,
)

__all__ += [
    "AreaSubscription",
    "DeviceToken",
    "RequestFollower",
    "RequestMedia",
    "Service",
    "ServiceRequest",
    "StatusChange",
]

from shared.incidents.models import (  # noqa: E402
    Incident,
    PreemptionPlan,
    PreemptionStep,
    Station,
    Unit,
)
from shared.traffic.models import RoadClosure, SignalPlan  # noqa: E402

__all__ += [
    "Incident",
    "PreemptionPlan",
    "PreemptionStep",
    "RoadClosure",
    "SignalPlan",
    "Station",
    "Unit",
]
