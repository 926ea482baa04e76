"""Thumbnails and Preview: the small thumbnail comes with each listing page in the same Graph
call ($expand=thumbnails($select=small)); the app streams thumbnails itself, so Graph's
pre-authenticated thumbnail URLs never reach the browser; Preview is the large thumbnail."""

from urllib.parse import parse_qs, urlsplit

from app.drive import cloud_drive
from app.microsoft import onedrive
from tests.drive.conftest import API, SQLITE_ONLY, children, row_named


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@SQLITE_ONLY
def test_thumbnails_come_with_the_page_in_one_graph_call(sally, ms, graph_calls, monkeypatch):
    urls = []

    def recording_send(method, url, **kwargs):
        urls.append(url)
        return send(method, url, **kwargs)

    send = onedrive._send
    monkeypatch.setattr(onedrive, "_send", recording_send)
    graph_calls.reset()
    photos = children(sally, path="Photos")
    assert graph_calls.since() == {"graph.drive.list_children": 1}
    [url] = urls
    assert parse_qs(urlsplit(url).query)["$expand"] == ["thumbnails($select=small)"]
    photo = row_named(photos, "Team offsite.png")
    assert photo["thumbnail"].startswith("/drive/thumbnail?item=")
    assert photo["thumbnail"].endswith("&size=small")
    assert photo["preview"].endswith("&size=large")
    text = str(photos)
    assert ms.base not in text and "_thumbnail" not in text  # Graph's URLs stay on the server
    documents = children(sally, path="Documents")
    assert "thumbnail" in row_named(documents, "Quarterly report.docx")
    for name in ("Notes.txt", "Budget 2024.csv"):
        assert "thumbnail" not in row_named(documents, name)
        assert "preview" not in row_named(documents, name)
    assert "thumbnail" not in row_named(children(sally), "Photos")  # folders show their icon


@SQLITE_ONLY
def test_a_thumbnail_is_streamed_by_the_app(sally, graph_calls):
    photo = row_named(children(sally, path="Photos"), "Whiteboard.png")
    graph_calls.reset()
    small = sally.get(photo["thumbnail"])
    assert small.status_code == 200 and small.mimetype == "image/png"
    assert png_size(small.data) == (48, 48)
    assert small.headers["Content-Length"] == str(len(small.data))
    assert small.headers["Cache-Control"] == "private, max-age=300"
    assert small.headers["Content-Disposition"] == "inline"
    assert graph_calls.since() == {"graph.drive.thumbnail": 1}
    large = sally.get(photo["preview"])
    assert large.status_code == 200 and png_size(large.data) == (800, 800)


@SQLITE_ONLY
def test_thumbnail_failures_are_clear(sally, ms):
    notes = row_named(children(sally, path="Documents"), "Notes.txt")
    item = {"item": notes["id"]}
    missing = sally.get("/drive/thumbnail", query_string={**item, "size": "small"})
    assert missing.status_code == 404 and "Thumbnail not found." in missing.get_data(as_text=True)
    wrong = sally.get("/drive/thumbnail", query_string={**item, "size": "source"})
    assert wrong.status_code == 400
    assert "Choose a small or large thumbnail." in wrong.get_data(as_text=True)
    photo = row_named(children(sally, path="Photos"), "Whiteboard.png")
    ms.fault("graph", "429", count=1, retry_after=30)
    busy = sally.get(photo["thumbnail"])
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "30"
    ms.fault("transfer", "500", count=1)
    broken = sally.get(photo["thumbnail"])
    assert broken.status_code == 502
    assert sally.get(photo["thumbnail"]).status_code == 200


@SQLITE_ONLY
def test_full_page_rows_show_the_thumbnail_and_preview_without_script(sally):
    page = sally.get("/drive/", query_string={"path": "Photos"}).get_data(as_text=True)
    assert 'class="drive-thumb" src="/drive/thumbnail?item=' in page
    assert "data-preview>Preview" in page
    documents = sally.get("/drive/", query_string={"path": "Documents"}).get_data(as_text=True)
    notes_row = documents.split('data-name="Notes.txt"')[1].split("</tr>")[0]
    assert "drive-thumb" not in notes_row and "Preview" not in notes_row


@SQLITE_ONLY
def test_plain_text_is_previewed_as_text(sally):
    documents = children(sally, path="Documents")
    notes = row_named(documents, "Notes.txt")
    assert notes["text_preview"].startswith("/drive/api/preview-text?item=")
    assert "text_preview" not in row_named(documents, "Quarterly report.docx")  # its thumbnail
    response = sally.get(notes["text_preview"])
    assert response.status_code == 200
    assert response.get_json() == {
        "name": "Notes.txt",
        "text": "Notes by Adele Vance\n- call Acme on Monday\n- send the proposal\n",
    }
    report = row_named(documents, "Quarterly report.docx")
    refused = sally.get("/drive/api/preview-text", query_string={"item": report["id"]})
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "Only plain text files are previewed as text."


@SQLITE_ONLY
def test_a_large_text_file_is_too_large_to_preview(sally, monkeypatch):
    big = b"line of text\n" * 80_000  # 1 MB, over the 256 KB cap
    upload = sally.put(
        f"{API}/files",
        query_string={"path": "Documents", "name": "big.log"},
        data=big,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert upload.status_code == 201, upload.get_data(as_text=True)
    row = upload.get_json()["row"]
    response = sally.get(row["text_preview"])
    assert response.status_code == 413
    assert response.get_json()["error"] == "“big.log” is too large to preview. Download it instead."
    read = []
    chunks = cloud_drive.OneDrive.download

    def counting(self, *args):
        file = chunks(self, *args)
        file.length = None  # Graph said nothing about the length: the cap still holds
        original = file.chunks

        def pieces():
            try:
                for piece in original:
                    read.append(len(piece))
                    yield piece
            finally:
                original.close()

        file.chunks = pieces()
        return file

    monkeypatch.setattr(cloud_drive.OneDrive, "download", counting)
    assert sally.get(row["text_preview"]).status_code == 413
    cap = cloud_drive.TEXT_PREVIEW_MAX + onedrive.STREAM_PIECE
    assert sum(read) <= cap < len(big)  # stopped at the cap, not the whole file
