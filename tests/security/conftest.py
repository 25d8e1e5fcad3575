"""The portal's and the partners' fixtures, for attacks on both."""

from tests.portal.conftest import (  # noqa: F401
    activate,
    active_sp,
    logged,
    make_user,
    user,
)
from tests.topups.conftest import fake_provider, partner_api  # noqa: F401
