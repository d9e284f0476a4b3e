"""rest-json round trips against botocore itself, for every operation and error of Lambda.

The round-trip helpers and their normalizations are shared with test_protocol_restxml.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from onebox.aws.errors import AwsError
from onebox.aws.http import HttpRequest
from onebox.aws.protocols import get_protocol
from onebox.aws.specs import service_model
from tests.unit.test_protocol_restxml import (
    REQUEST_ID,
    assert_request_round_trip,
    assert_response_round_trip,
    botocore_parse,
    botocore_request,
    error_cases,
    error_for_shape,
    expected_status,
    fake_client,
    operation_cases,
)

JSON_SERVICES = ("lambda",)


def _lambda():
    return service_model("lambda")


@pytest.mark.parametrize(("service", "name", "variant"), operation_cases(JSON_SERVICES))
def test_request_round_trip(service: str, name: str, variant: str) -> None:
    assert_request_round_trip(service, name, variant)


@pytest.mark.parametrize(("service", "name", "variant"), operation_cases(JSON_SERVICES))
def test_response_round_trip(service: str, name: str, variant: str) -> None:
    assert_response_round_trip(service, name, variant)


# Services that use what Lambda does not: query-string maps (apigateway), `jsonvalue` headers
# (lex-runtime), greedy labels followed by literal segments (workspaces-web).
@pytest.mark.parametrize(
    ("service", "name", "variant"), operation_cases(("apigateway", "lex-runtime", "workspaces-web"))
)
def test_other_rest_json_service_round_trip(service: str, name: str, variant: str) -> None:
    assert_request_round_trip(service, name, variant)
    assert_response_round_trip(service, name, variant)


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("service", "shape_name"), error_cases(JSON_SERVICES))
def test_modeled_error_round_trip(service: str, shape_name: str) -> None:
    model = service_model(service)
    error, fields = error_for_shape(model, shape_name)
    operation = model.operation_model("GetFunction")
    response = get_protocol("rest-json").serialize_error(
        model, operation, error, HttpRequest("GET", "/"), REQUEST_ID
    )

    assert response.status == expected_status(model, shape_name)
    assert response.header("x-amzn-ErrorType") == error.code
    parsed = botocore_parse(operation, response)
    assert parsed["Error"]["Code"] == error.code
    assert parsed["Error"]["Message"] == error.message
    assert parsed["ResponseMetadata"]["RequestId"] == REQUEST_ID
    modeled = {key: parsed[key] for key in model.shape_for(shape_name).members if key in parsed}
    for key in ("message", "Message"):
        if key in modeled:
            # The error message travels as the modeled message member.
            assert modeled.pop(key) == error.message
    assert modeled == fields


def test_lambda_error_body_looks_like_lambda() -> None:
    model = _lambda()
    error = AwsError("ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:0:function:f")
    response = get_protocol("rest-json").serialize_error(model, None, error, HttpRequest("GET", "/"), "R")
    assert response.status == 404
    assert json.loads(response.body) == {"Type": "User", "Message": error.message}
    assert response.header("x-amzn-RequestId") == "R"
    assert response.header("Content-Type") == "application/json"


def test_retry_after_header_member() -> None:
    model = _lambda()
    error = AwsError(
        "TooManyRequestsException", "Rate exceeded", fields={"retryAfterSeconds": "3", "Reason": "X"}
    )
    response = get_protocol("rest-json").serialize_error(model, None, error, HttpRequest("GET", "/"), "R")
    assert (response.status, response.header("Retry-After")) == (429, "3")
    assert "retryAfterSeconds" not in json.loads(response.body)


def test_unmodeled_error() -> None:
    model = _lambda()
    operation = model.operation_model("ListFunctions")
    error = AwsError("AccessDeniedException", "no", 403, fields={"Hint": "ask"})
    response = get_protocol("rest-json").serialize_error(
        model, operation, error, HttpRequest("GET", "/"), "R"
    )
    parsed = botocore_parse(operation, response)
    assert (parsed["Error"]["Code"], parsed["Error"]["Message"]) == ("AccessDeniedException", "no")
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert json.loads(response.body) == {"Hint": "ask", "message": "no"}


def test_head_error_has_no_body_but_keeps_its_code() -> None:
    model = _lambda()
    operation = model.operation_model("GetFunction")
    error = AwsError("ResourceNotFoundException", "gone")
    response = get_protocol("rest-json").serialize_error(
        model, operation, error, HttpRequest("HEAD", "/"), "R"
    )
    assert (response.status, response.body) == (404, b"")
    assert botocore_parse(operation, response)["Error"]["Code"] == "ResourceNotFoundException"


# ---------------------------------------------------------------------------------------------
# Formats
# ---------------------------------------------------------------------------------------------


def test_invoke_raw_payload_both_ways() -> None:
    model = _lambda()
    operation = model.operation_model("Invoke")
    params = {"FunctionName": "f", "Payload": b'{"k": "\xc3\xbc"}', "Qualifier": "1", "LogType": "Tail"}
    request = botocore_request(operation, params)
    protocol = get_protocol("rest-json")
    assert protocol.find_operation(model, request).name == "Invoke"
    assert protocol.parse(operation, request) == params

    output = {
        "StatusCode": 200,
        "Payload": b'{"ok":true}',
        "ExecutedVersion": "1",
        "FunctionError": "Unhandled",
    }
    response = protocol.serialize(operation, output, request, "R")
    assert (response.status, response.body) == (200, b'{"ok":true}')
    assert response.header("X-Amz-Function-Error") == "Unhandled"
    parsed = botocore_parse(operation, response)
    parsed.pop("ResponseMetadata")
    assert parsed == output


def test_json_body_document() -> None:
    model = _lambda()
    operation = model.operation_model("GetAccountSettings")
    output = {
        "AccountLimit": {"TotalCodeSize": 10, "CodeSizeUnzipped": 5},
        "AccountUsage": {"FunctionCount": 2},
    }
    response = get_protocol("rest-json").serialize(operation, output, HttpRequest("GET", "/"), "R")
    assert json.loads(response.body) == output
    assert response.header("Content-Type") == "application/json"
    assert response.header("x-amzn-RequestId") == "R"


def test_no_content_response() -> None:
    operation = _lambda().operation_model("RemovePermission")
    response = get_protocol("rest-json").serialize(operation, {}, HttpRequest("DELETE", "/"), "R")
    assert (response.status, response.body, response.header("x-amzn-RequestId")) == (204, b"", "R")


def test_routing_prefers_literals_and_fixed_query() -> None:
    model = _lambda()
    protocol = get_protocol("rest-json")
    cases = [
        ("GET", "/2015-03-31/functions/", "", "ListFunctions"),
        ("GET", "/2015-03-31/functions/my-fn", "", "GetFunction"),
        ("GET", "/2015-03-31/functions/my-fn/configuration", "", "GetFunctionConfiguration"),
        ("POST", "/2015-03-31/functions/my-fn/invocations", "", "Invoke"),
        ("GET", "/2018-10-31/layers", "find=LayerVersion&Arn=a", "GetLayerVersionByArn"),
        ("GET", "/2018-10-31/layers", "", "ListLayers"),
    ]
    for method, path, query, expected in cases:
        assert protocol.find_operation(model, HttpRequest(method, path, query)).name == expected


def test_function_name_labels_are_percent_decoded() -> None:
    model = _lambda()
    operation = model.operation_model("GetFunction")
    arn = "arn:aws:lambda:us-east-1:123456789012:function:my-fn:$LATEST"
    request = botocore_request(operation, {"FunctionName": arn})
    assert "%3A" in request.path
    assert get_protocol("rest-json").parse(operation, request) == {"FunctionName": arn}


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"\xff\xfe{}", b"[1, 2]", b'{"FunctionName": "f", "Timeout": 3, "Code": []}', b'"text"'],
    ids=["syntax", "invalid-utf8", "array", "wrong-member-type", "string"],
)
def test_malformed_json_is_a_400(body: bytes) -> None:
    operation = _lambda().operation_model("CreateFunction")
    request = HttpRequest("POST", "/2015-03-31/functions", "", {"content-type": "application/json"}, body)
    with pytest.raises(AwsError) as caught:
        get_protocol("rest-json").parse(operation, request)
    assert (caught.value.code, caught.value.status) == ("InvalidRequestContentException", 400)


def test_bad_blob_in_json_is_a_400() -> None:
    create = _lambda().operation_model("CreateFunction")
    body = b'{"FunctionName": "f", "Code": {"ZipFile": "not base64!"}}'
    with pytest.raises(AwsError) as caught:
        get_protocol("rest-json").parse(create, HttpRequest("POST", "/2015-03-31/functions", "", {}, body))
    assert (caught.value.code, caught.value.status) == ("InvalidRequestContentException", 400)


def test_bad_query_value_is_a_400() -> None:
    operation = _lambda().operation_model("ListFunctions")
    with pytest.raises(AwsError) as caught:
        get_protocol("rest-json").parse(
            operation, HttpRequest("GET", "/2015-03-31/functions/", "MaxItems=ten")
        )
    assert (caught.value.code, caught.value.status) == ("ValidationException", 400)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/2015-03-31/nothing", 404), ("GET", "/", 404), ("PATCH", "/2015-03-31/functions/f", 404)],
)
def test_unknown_route(method: str, path: str, status: int) -> None:
    model = _lambda()
    with pytest.raises(AwsError) as caught:
        get_protocol("rest-json").find_operation(model, HttpRequest(method, path))
    assert (caught.value.code, caught.value.status) == ("UnknownOperationException", status)
    response = get_protocol("rest-json").serialize_error(
        model, None, caught.value, HttpRequest(method, path), "R"
    )
    parsed = botocore_parse(model.operation_model("ListFunctions"), response)
    assert parsed["Error"]["Code"] == "UnknownOperationException"


def test_lambda_through_a_real_client() -> None:
    seen: dict[str, Any] = {}

    def create(params: dict[str, Any]) -> dict[str, Any]:
        seen.update(params)
        return {"FunctionName": params["FunctionName"], "Runtime": params["Runtime"], "CodeSize": 3}

    def invoke(params: dict[str, Any]) -> dict[str, Any]:
        assert json.loads(params["Payload"]) == {"n": 1}
        return {"StatusCode": 200, "Payload": b'{"n": 2}', "ExecutedVersion": "$LATEST"}

    def missing(params: dict[str, Any]) -> dict[str, Any]:
        raise AwsError("ResourceNotFoundException", f"Function not found: {params['FunctionName']}")

    client = fake_client("lambda", {"CreateFunction": create, "Invoke": invoke, "GetFunction": missing})
    created = client.create_function(
        FunctionName="f",
        Runtime="python3.12",
        Role="arn:aws:iam::1:role/r",
        Handler="h",
        Code={"ZipFile": b"PK\x03"},
    )
    assert (created["FunctionName"], created["CodeSize"]) == ("f", 3)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert seen["Code"] == {"ZipFile": b"PK\x03"}

    invoked = client.invoke(FunctionName="f", Payload=b'{"n": 1}')
    assert (invoked["StatusCode"], invoked["Payload"].read()) == (200, b'{"n": 2}')

    with pytest.raises(client.exceptions.ResourceNotFoundException) as caught:
        client.get_function(FunctionName="nope")
    assert caught.value.response["Error"]["Message"] == "Function not found: nope"
    assert caught.value.response["Type"] == "User"
