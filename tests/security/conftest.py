"""The portal's and the partners' fixtures, for attacks on both."""

from tests.backoffice.conftest import console as console_client  # noqa: F401
from tests.backoffice.conftest import operator  # noqa: F401
from tests.portal.conftest import (  # noqa: F401
    activate,
    active_sp,
    logged,
    make_user,
    other_sp,
    user,
)
from tests.topups.conftest import fake_provider, partner_api  # noqa: F401
