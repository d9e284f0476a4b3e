"""What an alarm's actions call: SNS topics directly, everything else through registered handlers.

Kinds and the ARNs they cover:
  "sns"          arn:aws:sns:REGION:ACCOUNT:TOPIC          -> onebox.services.sns.delivery.publish
  "ec2"          arn:aws:automate:REGION:ec2:stop|terminate|reboot|recover  (action.operation says which;
                 action.instance_id is the alarm's InstanceId dimension)
  "autoscaling"  arn:aws:autoscaling:REGION:ACCOUNT:scalingPolicy:...       (re-invoked every minute
                 while the alarm stays in the state)
  "lambda", "ssm" (accepted, run only if a handler is registered)

A service registers once at import: `register_action_handler("ec2", handler)`; `handler(runtime,
action)` may be a function or a coroutine function and raises to report failure. An action whose kind
has no handler, or whose handler raises, is recorded in the alarm's history as a failed Action item.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from onebox.runtime import Runtime

log = logging.getLogger(__name__)

EC2_ACTION = re.compile(r"^arn:aws:automate:([a-z0-9-]+):ec2:(stop|terminate|reboot|recover)$")
SWF_EC2_ACTION = re.compile(
    r"^arn:aws:swf:([a-z0-9-]+):\d{12}:action/actions/AWS_EC2\.InstanceId\.(Stop|Terminate|Reboot)/1\.0$"
)


@dataclass(frozen=True)
class AlarmAction:
    """One action to run for one alarm state change (or Auto Scaling re-invocation)."""

    arn: str
    kind: str  # "sns", "ec2", "autoscaling", "lambda", "ssm"
    operation: str | None  # for "ec2": stop, terminate, reboot or recover
    account: str
    region: str
    alarm_name: str
    alarm_arn: str
    old_state: str
    new_state: str
    reason: str
    alarm: dict[str, Any] = field(default_factory=dict)  # the alarm as DescribeAlarms shows it

    @property
    def instance_id(self) -> str | None:
        for dimension in self.alarm.get("Dimensions") or []:
            if dimension.get("Name") == "InstanceId":
                return str(dimension.get("Value"))
        return None


ActionHandler = Callable[["Runtime", AlarmAction], "None | Awaitable[None]"]
_handlers: dict[str, ActionHandler] = {}


def register_action_handler(kind: str, handler: ActionHandler) -> None:
    """Make `handler` carry out actions of `kind` ("ec2", "autoscaling", "sns" to replace delivery...)."""
    _handlers[kind] = handler


def unregister_action_handler(kind: str) -> None:
    _handlers.pop(kind, None)


def action_handler(kind: str) -> ActionHandler | None:
    """The handler registered for `kind`, if any."""
    return _handlers.get(kind)


def action_kind(arn: str) -> tuple[str, str | None] | None:
    """(kind, operation) of an action ARN, or None if CloudWatch would refuse it."""
    ec2 = EC2_ACTION.match(arn)
    if ec2:
        return "ec2", ec2.group(2)
    swf = SWF_EC2_ACTION.match(arn)
    if swf:
        return "ec2", swf.group(2).lower()
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or not parts[1].startswith("aws"):
        return None
    service = parts[2]
    if service == "sns":
        return "sns", None
    if service == "autoscaling" and ":scalingPolicy:" in arn:
        return "autoscaling", None
    if service == "lambda":
        return "lambda", None
    if service in ("ssm", "ssm-incidents"):
        return "ssm", None
    return None


async def run_action(runtime: Runtime, action: AlarmAction) -> tuple[bool, str]:
    """Carry out one action: (succeeded, the history summary AWS would write)."""
    try:
        handler = _handlers.get(action.kind)
        if handler is None and action.kind == "sns":
            handler = _publish_to_sns
        if handler is None:
            raise RuntimeError(f"no {action.kind} service handles alarm actions in this onebox")
        outcome = handler(runtime, action)
        if inspect.isawaitable(outcome):
            await outcome
    except Exception as error:  # a failed action is history, not a crash of the evaluator
        log.info("alarm %s: action %s failed: %s", action.alarm_name, action.arn, error)
        return False, f'Failed to execute action {action.arn}. Received error: "{error}"'
    return True, f"Successfully executed action {action.arn}"


def _publish_to_sns(runtime: Runtime, action: AlarmAction) -> None:
    from onebox.services.sns import delivery  # written by the SNS service; imported only when used

    delivery.publish(runtime, action.arn, notification_message(action), notification_subject(action))


REGION_NAMES = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
    "eu-west-1": "EU (Ireland)",
    "eu-central-1": "EU (Frankfurt)",
    "ap-southeast-1": "Asia Pacific (Singapore)",
    "ap-northeast-1": "Asia Pacific (Tokyo)",
}


def notification_subject(action: AlarmAction) -> str:
    region = REGION_NAMES.get(action.region, action.region)
    return f'{action.new_state}: "{action.alarm_name}" in {region}'[:100]


def notification_message(action: AlarmAction) -> str:
    """The JSON body CloudWatch publishes to SNS on a state change."""
    alarm = action.alarm
    message: dict[str, Any] = {
        "AlarmName": action.alarm_name,
        "AlarmDescription": alarm.get("AlarmDescription"),
        "AWSAccountId": action.account,
        "AlarmConfigurationUpdatedTimestamp": _iso(alarm.get("AlarmConfigurationUpdatedTimestamp")),
        "NewStateValue": action.new_state,
        "NewStateReason": action.reason,
        "StateChangeTime": _iso(alarm.get("StateUpdatedTimestamp")),
        "Region": REGION_NAMES.get(action.region, action.region),
        "AlarmArn": action.alarm_arn,
        "OldStateValue": action.old_state,
        "OKActions": alarm.get("OKActions", []),
        "AlarmActions": alarm.get("AlarmActions", []),
        "InsufficientDataActions": alarm.get("InsufficientDataActions", []),
    }
    if "AlarmRule" in alarm:
        message["AlarmRule"] = alarm["AlarmRule"]
    else:
        trigger: dict[str, Any] = {
            "Period": alarm.get("Period"),
            "EvaluationPeriods": alarm.get("EvaluationPeriods"),
            "DatapointsToAlarm": alarm.get("DatapointsToAlarm"),
            "ComparisonOperator": alarm.get("ComparisonOperator"),
            "Threshold": alarm.get("Threshold"),
            "TreatMissingData": alarm.get("TreatMissingData", "missing"),
            "EvaluateLowSampleCountPercentile": alarm.get("EvaluateLowSampleCountPercentile", ""),
        }
        if alarm.get("MetricName"):
            trigger.update(
                {
                    "MetricName": alarm["MetricName"],
                    "Namespace": alarm.get("Namespace"),
                    "StatisticType": "ExtendedStatistic" if alarm.get("ExtendedStatistic") else "Statistic",
                    "Statistic": alarm.get("ExtendedStatistic") or str(alarm.get("Statistic", "")).upper(),
                    "Unit": alarm.get("Unit"),
                    "Dimensions": [
                        {"value": d["Value"], "name": d["Name"]} for d in alarm.get("Dimensions") or []
                    ],
                }
            )
        else:
            trigger["Metrics"] = alarm.get("Metrics", [])
        message["Trigger"] = trigger
    return json.dumps(message, default=str)


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    text = value.isoformat(timespec="milliseconds") if hasattr(value, "isoformat") else str(value)
    return text.replace("+00:00", "+0000")
