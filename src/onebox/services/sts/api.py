"""STS: the identity calls every client makes first."""

from __future__ import annotations

from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi

api = ServiceApi("sts")


@api.operation("GetCallerIdentity")
def get_caller_identity(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    # onebox's credentials are root credentials of their account, as a fresh AWS account's are.
    return {"UserId": ctx.account_id, "Account": ctx.account_id, "Arn": f"arn:aws:iam::{ctx.account_id}:root"}
