import pytest

from installed_wheel import build_and_install


@pytest.fixture(scope='session')
def installed(tmp_path_factory):
    """(wheel, folder it is installed in, generated ImageNet root), built once per session."""
    return build_and_install(tmp_path_factory.mktemp('wheel'))
