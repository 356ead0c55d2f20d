"""ServiceNow Table API as a synthloom seed reader and export sink (an example plugin).

The instance and the credentials come from the environment, never from a config file:

    SERVICENOW_INSTANCE_URL   https://dev12345.service-now.com
    SERVICENOW_USERNAME       with SERVICENOW_PASSWORD: basic authentication
    SERVICENOW_PASSWORD
    SERVICENOW_TOKEN          or an OAuth bearer token instead
"""

from __future__ import annotations

from synthloom_servicenow.reader import ServiceNowReader
from synthloom_servicenow.sink import write_records
from synthloom_servicenow.table_api import TableApi, TableApiError

__all__ = ["ServiceNowReader", "TableApi", "TableApiError", "write_records"]
