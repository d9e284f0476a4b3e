"""Static website hosting, proven with curl against http://BUCKET.s3-website.localhost:PORT/."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest
from botocore.exceptions import ClientError


def _curl(*args: str) -> tuple[int, bytes, dict[str, str]]:
    result = subprocess.run(
        ["curl", "-s", "-o", "/dev/stdout", "-D", "/dev/stderr", *args], capture_output=True, timeout=60
    )
    lines = result.stderr.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return status, result.stdout, headers


@pytest.fixture
def s3(onebox):
    return onebox.client("s3")


def _public_site(s3, list_permission: bool = False) -> str:
    bucket = f"site-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    s3.delete_public_access_block(Bucket=bucket)
    actions = ["s3:GetObject", "s3:ListBucket"] if list_permission else ["s3:GetObject"]
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": actions,
                        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                    }
                ],
            }
        ),
    )
    for key, body in {
        "index.html": b"<h1>home</h1>",
        "error.html": b"<h1>oops</h1>",
        "docs/index.html": b"<h1>docs</h1>",
        "docs/page.html": b"<p>page</p>",
    }.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/html")
    s3.put_object(Bucket=bucket, Key="moved.html", Body=b"", WebsiteRedirectLocation="/docs/page.html")
    s3.put_bucket_website(
        Bucket=bucket,
        WebsiteConfiguration={
            "IndexDocument": {"Suffix": "index.html"},
            "ErrorDocument": {"Key": "error.html"},
            "RoutingRules": [
                {"Condition": {"KeyPrefixEquals": "old/"}, "Redirect": {"ReplaceKeyPrefixWith": "docs/"}},
                {
                    "Condition": {"HttpErrorCodeReturnedEquals": "404", "KeyPrefixEquals": "gone/"},
                    "Redirect": {
                        "HostName": "example.com",
                        "ReplaceKeyWith": "moved",
                        "HttpRedirectCode": "302",
                    },
                },
            ],
        },
    )
    return bucket


def test_website_configuration_operations(s3) -> None:
    bucket = f"site-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as error:
        s3.get_bucket_website(Bucket=bucket)
    assert error.value.response["Error"]["Code"] == "NoSuchWebsiteConfiguration"
    with pytest.raises(ClientError) as error:
        s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration={"IndexDocument": {"Suffix": "a/b.html"}})
    assert error.value.response["Error"]["Code"] == "InvalidArgument"
    s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}})
    assert s3.get_bucket_website(Bucket=bucket)["IndexDocument"] == {"Suffix": "index.html"}
    s3.delete_bucket_website(Bucket=bucket)
    with pytest.raises(ClientError):
        s3.get_bucket_website(Bucket=bucket)


def test_index_documents_redirects_and_errors(onebox, s3) -> None:
    bucket = _public_site(s3)
    site = f"http://{bucket}.s3-website.localhost:{onebox.port}"
    status, body, headers = _curl(site + "/")
    assert (status, body) == (200, b"<h1>home</h1>") and headers["content-type"] == "text/html"
    assert _curl(site)[:2] == (200, b"<h1>home</h1>")
    assert _curl(site + "/docs/")[:2] == (200, b"<h1>docs</h1>")
    assert _curl(site + "/docs/page.html")[:2] == (200, b"<p>page</p>")
    # A folder without its slash: 302 to add it, the query string dropped.
    status, _, headers = _curl(site + "/docs?lang=en")
    assert status == 302 and headers["location"] == "/docs/"
    # Object-level redirect.
    status, _, headers = _curl(site + "/moved.html")
    assert status == 301 and headers["location"] == "/docs/page.html"
    # Routing rules: a prefix rule before the lookup, an error-code rule after it.
    status, _, headers = _curl(site + "/old/page.html")
    assert (
        status == 301
        and headers["location"] == f"http://{bucket}.s3-website.localhost:{onebox.port}/docs/page.html"
    )
    # The error-code rule wants a 404; without s3:ListBucket the error is a 403, so it does not apply.
    assert _curl(site + "/gone/thing")[0] == 403
    # Without s3:ListBucket a missing key is 403; the error document is served with that status.
    status, body, headers = _curl(site + "/nope.html")
    assert (status, body) == (403, b"<h1>oops</h1>")
    # Only GET and HEAD.
    status, body, _ = _curl("-X", "DELETE", site + "/index.html")
    assert status == 405 and b"<li>Code: MethodNotAllowed</li>" in body
    assert _curl("-I", site + "/docs/page.html")[0] == 200
    # Conditional GET.
    etag = _curl(site + "/index.html")[2]["etag"]
    assert _curl("-H", f"If-None-Match: {etag}", site + "/index.html")[0] == 304


def test_404_with_list_permission_and_html_errors(onebox, s3) -> None:
    bucket = _public_site(s3, list_permission=True)
    site = f"http://{bucket}.s3-website.localhost:{onebox.port}"
    assert _curl(site + "/nope.html")[:2] == (404, b"<h1>oops</h1>")
    status, _, headers = _curl(site + "/gone/thing")
    assert status == 302 and headers["location"] == "http://example.com/moved"
    # Without an error document, S3's own HTML error page.
    s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}})
    status, body, headers = _curl(site + "/nope.html")
    assert status == 404 and headers["content-type"].startswith("text/html")
    assert b"<h1>404 Not Found</h1>" in body and b"<li>Code: NoSuchKey</li>" in body
    # A bucket with no website configuration, and a private bucket.
    s3.delete_bucket_website(Bucket=bucket)
    status, body, _ = _curl(site + "/")
    assert status == 404 and b"NoSuchWebsiteConfiguration" in body
    private = f"site-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=private)
    s3.put_object(Bucket=private, Key="index.html", Body=b"private")
    s3.put_bucket_website(Bucket=private, WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}})
    status, body, _ = _curl(f"http://{private}.s3-website.localhost:{onebox.port}/")
    assert status == 403 and b"<li>Code: AccessDenied</li>" in body


def test_redirect_all_requests(onebox, s3) -> None:
    bucket = f"site-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_website(
        Bucket=bucket,
        WebsiteConfiguration={"RedirectAllRequestsTo": {"HostName": "www.example.com", "Protocol": "https"}},
    )
    status, _, headers = _curl(f"http://{bucket}.s3-website-us-east-1.localhost:{onebox.port}/a/b.html?x=1")
    assert status == 301 and headers["location"] == "https://www.example.com/a/b.html?x=1"
