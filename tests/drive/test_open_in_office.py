"""Open in Office for the web: Word, Excel, PowerPoint and PDF files link to the item's webUrl
(from the listing's own $select, no extra Graph call), in a new tab, with or without script."""

import re

import requests

from app.drive.cloud_drive import _office_url
from tests.drive.conftest import API, SQLITE_ONLY, children, row_named


@SQLITE_ONLY
def test_office_files_and_pdfs_link_to_their_web_url(sally, ms, graph_calls):
    graph_calls.reset()
    documents = children(sally, path="Documents")
    assert graph_calls.since() == {"graph.drive.list_children": 1}
    report = row_named(documents, "Quarterly report.docx")
    assert report["web_url"].startswith(f"{ms.base}/_onedrive/")
    page = requests.get(report["web_url"], timeout=10)
    assert page.status_code == 200 and "<title>Quarterly report.docx - OneDrive" in page.text
    for name in ("Notes.txt", "Budget 2024.csv"):
        assert "web_url" not in row_named(documents, name)
    assert "web_url" not in row_named(children(sally), "Documents")  # folders open here
    proposal = row_named(children(sally, path="Proposals"), "Acme proposal.pdf")
    assert proposal["web_url"].startswith(f"{ms.base}/_onedrive/")
    found = sally.get(f"{API}/search", query_string={"q": "quarterly"}).get_json()
    assert row_named(found, "Quarterly report.docx")["web_url"] == report["web_url"]


@SQLITE_ONLY
def test_shared_office_files_link_too(sally, ms):
    shared = children(sally, view="shared")
    proposals = row_named(shared, "Proposals")
    inside = sally.get(proposals["api"]).get_json()
    assert row_named(inside, "Acme proposal.pdf")["web_url"].startswith(f"{ms.base}/_onedrive/")


def test_only_http_web_urls_of_office_files_are_linked():
    file = {"file": {}, "webUrl": "https://contoso-my.sharepoint.com/personal/a/Doc.docx"}
    assert _office_url(file, "Doc.docx") == file["webUrl"]
    assert _office_url(file, "Slides.PPTX") == file["webUrl"]
    assert _office_url(file, "notes.txt") == ""
    assert _office_url({**file, "webUrl": "javascript:alert(1)"}, "Doc.docx") == ""
    assert _office_url({"folder": {}, "webUrl": file["webUrl"]}, "Folder.docx") == ""
    assert _office_url({"file": {}}, "Doc.docx") == ""


@SQLITE_ONLY
def test_the_page_without_script_opens_it_in_a_new_tab(sally):
    page = sally.get("/drive/?path=Documents").get_data(as_text=True)
    link = re.search(
        r'<a class="button small" href="([^"]+)" target="_blank" rel="noopener">'
        r"Open in Office for the web",
        page,
    )
    assert link and "/_onedrive/" in link.group(1)
    assert page.count("Open in Office for the web<") == 1  # the .docx only
