"""The top-up fixtures, shared."""

from tests.topups.conftest import active_sp, partner_api  # noqa: F401
