"""npconv.saving.atomic: a write that fails leaves the old file byte-identical and
no temporary file behind; targets that are not regular files are refused."""

import os

import numpy as np
import pytest

from npconv.saving.atomic import atomic_path, atomic_write


def test_a_clean_write_replaces_the_file(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    with atomic_write(target) as file:
        file.write(b"new")
    assert target.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["f.bin"]
    assert oct(os.stat(target).st_mode & 0o777) == oct(0o666 & ~_umask())


@pytest.mark.parametrize("mode, data", [("wb", b"partial"), ("w", "partial")])
def test_a_failed_write_keeps_the_old_file(tmp_path, mode, data):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="midway"):
        with atomic_write(target, mode) as file:
            file.write(data)
            raise RuntimeError("midway")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_atomic_path_for_path_writers(tmp_path):
    target = tmp_path / "y.npy"
    with atomic_path(target) as temporary:
        np.save(open(temporary, "wb"), np.arange(3))
        assert not target.exists()
    np.testing.assert_array_equal(np.load(target), np.arange(3))


def test_refuses_directories_and_devices(tmp_path):
    with pytest.raises(IsADirectoryError):
        with atomic_write(tmp_path):
            pass
    if os.path.exists("/dev/null"):
        with pytest.raises(ValueError, match="not a regular file"):
            with atomic_write("/dev/null") as file:
                file.write(b"x")
        assert not os.path.isfile("/dev/null")
    with pytest.raises(ValueError, match="Expected 'wb' or 'w'"):
        with atomic_write(tmp_path / "f", "a"):
            pass


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
