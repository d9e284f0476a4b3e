"""The URLs SNS puts in its messages, served by the gateway without authentication (as AWS's are):

- `/_onebox/sns/SimpleNotificationService-onebox.pem`: the signing certificate (SigningCertURL);
- `/_onebox/sns/?Action=ConfirmSubscription&TopicArn=...&Token=...` (SubscribeURL);
- `/_onebox/sns/?Action=Unsubscribe&SubscriptionArn=...` (UnsubscribeURL).
"""

from __future__ import annotations

from onebox.aws.errors import AwsError
from onebox.aws.http import HttpRequest, HttpResponse
from onebox.aws.protocols.query import xml_escape
from onebox.gateway import SERVICE_ROUTES
from onebox.runtime import Runtime
from onebox.services.sns import messages, signing
from onebox.store.ids import new_request_id

XMLNS = "http://sns.amazonaws.com/doc/2010-03-31/"


async def certificate(runtime: Runtime, request: HttpRequest) -> HttpResponse:
    _, pem = signing.signing_material(runtime.config.state_dir)
    return HttpResponse(200, [("Content-Type", "application/x-x509-ca-cert")], pem)


async def link(runtime: Runtime, request: HttpRequest) -> HttpResponse:
    from onebox.services.sns import subscriptions  # the handlers module imports this one

    params = request.query_params()
    action = params.get("Action")
    request_id = new_request_id()
    try:
        if action == "ConfirmSubscription":
            record = subscriptions.confirm(
                runtime, params.get("TopicArn", ""), params.get("Token", ""), authenticated=False
            )
            result = f"<SubscriptionArn>{xml_escape(record.arn)}</SubscriptionArn>"
            return _xml(
                200,
                f'<ConfirmSubscriptionResponse xmlns="{XMLNS}"><ConfirmSubscriptionResult>'
                f"{result}</ConfirmSubscriptionResult>"
                f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
                "</ConfirmSubscriptionResponse>",
            )
        if action == "Unsubscribe":
            subscriptions.unsubscribe(runtime, params.get("SubscriptionArn", ""), authenticated=False)
            return _xml(
                200,
                f'<UnsubscribeResponse xmlns="{XMLNS}"><ResponseMetadata><RequestId>'
                f"{request_id}</RequestId></ResponseMetadata></UnsubscribeResponse>",
            )
        raise AwsError("InvalidAction", f"The action {action} is not valid for this endpoint.", 400)
    except AwsError as error:
        status = error.status or 400
        return _xml(
            status,
            f'<ErrorResponse xmlns="{XMLNS}"><Error><Type>Sender</Type>'
            f"<Code>{error.code}</Code><Message>{xml_escape(error.message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>",
        )


def _xml(status: int, body: str) -> HttpResponse:
    return HttpResponse(status, [("Content-Type", "text/xml")], body.encode("utf-8"))


SERVICE_ROUTES[signing.CERT_PATH] = certificate
SERVICE_ROUTES[messages.ENDPOINT_PATH] = link
