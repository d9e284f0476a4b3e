"""ACM's handler table (imported certificates; RequestCertificate comes with Route 53)."""

from __future__ import annotations

from onebox.aws.dispatch import ServiceApi
from onebox.services.acm import catalog, importing, tagging

api = ServiceApi("acm").include(importing.api, catalog.api, tagging.api)
