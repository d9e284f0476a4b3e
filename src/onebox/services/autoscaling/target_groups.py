"""The group's one door to ELBv2 target groups (onebox.services.elbv2.targets).

Groups work without target groups. When the ELBv2 service is not in this build, naming a target group
is refused with AWS's ValidationError, and groups without one never call in here.
"""

from __future__ import annotations

import importlib
import logging
from types import ModuleType
from typing import TYPE_CHECKING

from onebox.aws.errors import AwsError

if TYPE_CHECKING:
    from onebox.runtime import Runtime

log = logging.getLogger(__name__)


def _targets() -> ModuleType | None:
    try:
        return importlib.import_module("onebox.services.elbv2.targets")
    except ImportError:
        return None


def available() -> bool:
    return _targets() is not None


def check(runtime: Runtime, account: str, region: str, target_group_arn: str) -> None:
    """AwsError (ValidationError) unless the target group exists."""
    targets = _targets()
    if targets is None:
        raise AwsError("ValidationError", f"Target group not found: {target_group_arn}")
    try:
        targets.check_target_group(runtime, account, region, target_group_arn)
    except AwsError as error:
        raise AwsError("ValidationError", f"Target group not found: {target_group_arn}") from error


def register(
    runtime: Runtime, account: str, region: str, target_group_arn: str, instance_ids: list[str]
) -> None:
    targets = _targets()
    if targets is None or not instance_ids:
        return
    try:
        targets.register_targets(
            runtime, account, region, target_group_arn, [(i, None) for i in instance_ids]
        )
    except AwsError as error:  # a deleted target group or a gone instance: the group carries on
        log.info(
            "autoscaling: registering %s with %s failed: %s", instance_ids, target_group_arn, error.message
        )


def deregister(
    runtime: Runtime, account: str, region: str, target_group_arn: str, instance_ids: list[str]
) -> None:
    targets = _targets()
    if targets is None or not instance_ids:
        return
    try:
        targets.deregister_targets(
            runtime, account, region, target_group_arn, [(i, None) for i in instance_ids]
        )
    except AwsError as error:
        log.info(
            "autoscaling: deregistering %s from %s failed: %s", instance_ids, target_group_arn, error.message
        )


def states(runtime: Runtime, account: str, region: str, target_group_arn: str) -> dict[str, str]:
    """Target id -> initial / healthy / unhealthy / unused / draining; {} if the group is gone."""
    targets = _targets()
    if targets is None:
        return {}
    try:
        return dict(targets.target_states(runtime, account, region, target_group_arn))
    except AwsError:
        return {}
