import pytest

from tests.network.fakehost import fake_host


@pytest.fixture(autouse=True)
def host(settings):
    with fake_host(settings) as h:
        yield h
