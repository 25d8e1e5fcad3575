from tests.headend.fixtures import *  # noqa: F403
