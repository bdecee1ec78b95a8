"""File downloads: PyPI's /packages/ layout, Range on local disk, redirects with S3."""

from __future__ import annotations

import pytest

from releases.models import File
from tests.support.factories import upload_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def local_storage(settings, tmp_path):
    settings.PYPIDRAFT_STORAGE = "filesystem"
    settings.STORAGES = {
        **settings.STORAGES,
        "packages": {
            "BACKEND": "releases.storage.filesystem.PackageFileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "packages")},
        },
    }


@pytest.fixture
def wheel(alice) -> File:
    return upload_file("acme", "1.0", by=alice)


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_download_streams_whole_file(client, local_storage, wheel):
    response = client.get(f"/packages/{wheel.path}")
    assert response.status_code == 200
    assert response["Accept-Ranges"] == "bytes"
    assert int(response["Content-Length"]) == wheel.size
    assert len(body(response)) == wheel.size
    assert "immutable" in response["Cache-Control"]


@pytest.mark.parametrize(
    ("header", "start", "end"), [("bytes=0-9", 0, 9), ("bytes=10-", 10, None), ("bytes=-5", None, None)]
)
def test_download_honours_range(client, local_storage, wheel, header, start, end):
    whole = body(client.get(f"/packages/{wheel.path}"))
    response = client.get(f"/packages/{wheel.path}", HTTP_RANGE=header)
    assert response.status_code == 206
    expected = whole[-5:] if start is None else whole[start : (end + 1 if end is not None else None)]
    assert body(response) == expected
    assert response["Content-Range"].endswith(f"/{wheel.size}")


def test_unsatisfiable_range_is_416(client, local_storage, wheel):
    response = client.get(f"/packages/{wheel.path}", HTTP_RANGE=f"bytes={wheel.size + 10}-")
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{wheel.size}"


@pytest.mark.requires_s3
def test_s3_download_redirects_to_the_object_store(client, wheel):
    response = client.get(f"/packages/{wheel.path}")
    assert response.status_code == 302
    assert wheel.path in response["Location"]
    assert "X-Amz-Signature" in response["Location"]


@pytest.mark.parametrize(
    "path",
    [
        "/packages/zz/zz/{rest}/{name}",
        "/packages/{aa}/{bb}/{rest}/other.whl",
        "/packages/{aa}/{bb}/short/{name}",
    ],
)
def test_wrong_paths_are_404(client, wheel, path):
    aa, bb, rest, name = wheel.path.split("/")
    assert client.get(path.format(aa=aa, bb=bb, rest=rest, name=name)).status_code == 404
