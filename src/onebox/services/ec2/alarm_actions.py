"""CloudWatch alarm actions on instances (`arn:aws:automate:REGION:ec2:stop|terminate|reboot|recover`),
carried out through the same handlers as StopInstances, TerminateInstances and RebootInstances.

`recover` moves an instance to healthy hardware in AWS; onebox has one host, so it reboots the
instance (a new init in a fresh namespace), which is what recovery looks like from inside.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from onebox.aws.dispatch import RequestContext
from onebox.aws.errors import AwsError
from onebox.aws.http import HttpRequest
from onebox.services.ec2 import instances
from onebox.store.ids import new_request_id

if TYPE_CHECKING:
    from onebox.runtime import Runtime
    from onebox.services.cloudwatch.actions import AlarmAction

_OPERATIONS = {
    "stop": instances.stop_instances,
    "terminate": instances.terminate_instances,
    "reboot": instances.reboot_instances,
    "recover": instances.reboot_instances,
}


def carry_out(runtime: Runtime, action: AlarmAction) -> None:
    """Run one EC2 alarm action; an AwsError becomes the failure CloudWatch records in alarm history."""
    operation = _OPERATIONS.get(action.operation or "")
    if operation is None:
        raise AwsError("InvalidParameterValue", f"Unsupported EC2 alarm action: {action.arn}")
    instance_id = action.instance_id
    if instance_id is None:
        raise AwsError(
            "InvalidParameterValue", "EC2 actions need an alarm on a metric with an InstanceId dimension"
        )
    operation_name = {"stop": "StopInstances", "terminate": "TerminateInstances"}.get(
        action.operation or "", "RebootInstances"
    )
    context = RequestContext(
        runtime=runtime,
        service="ec2",
        operation=operation_name,
        account_id=action.account,
        region=action.region,
        request_id=new_request_id(),
        request=HttpRequest("POST", "/"),
    )
    params: dict[str, Any] = {"InstanceIds": [instance_id]}
    operation(context, params)


def register() -> None:
    from onebox.services.cloudwatch.actions import register_action_handler

    register_action_handler("ec2", carry_out)
