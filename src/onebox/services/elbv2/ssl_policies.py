"""ELB's predefined security policies (DescribeSSLPolicies): the TLS versions and ciphers each allows.

The API's default for HTTPS listeners is ELBSecurityPolicy-2016-08 (the console picks a TLS 1.3 policy).
"""

from __future__ import annotations

from typing import Any

from onebox.aws.dispatch import RequestContext, ServiceApi
from onebox.aws.errors import AwsError

api = ServiceApi("elbv2")

DEFAULT_SSL_POLICY = "ELBSecurityPolicy-2016-08"

_TLS13 = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]
_GCM = [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
]
_CBC_SHA2 = [
    "ECDHE-ECDSA-AES128-SHA256",
    "ECDHE-RSA-AES128-SHA256",
    "ECDHE-ECDSA-AES256-SHA384",
    "ECDHE-RSA-AES256-SHA384",
]
_CBC_SHA1 = [
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-RSA-AES128-SHA",
    "ECDHE-RSA-AES256-SHA",
    "ECDHE-ECDSA-AES256-SHA",
]
_RSA = [
    "AES128-GCM-SHA256",
    "AES128-SHA256",
    "AES128-SHA",
    "AES256-GCM-SHA384",
    "AES256-SHA256",
    "AES256-SHA",
]
_LEGACY = _GCM + _CBC_SHA2 + _CBC_SHA1 + _RSA

# name -> (protocols, ciphers)
POLICIES: dict[str, tuple[list[str], list[str]]] = {
    "ELBSecurityPolicy-2016-08": (["TLSv1", "TLSv1.1", "TLSv1.2"], _LEGACY),
    "ELBSecurityPolicy-TLS13-1-2-2021-06": (["TLSv1.2", "TLSv1.3"], _TLS13 + _LEGACY),
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06": (["TLSv1.2", "TLSv1.3"], _TLS13 + _GCM),
    "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06": (["TLSv1.2", "TLSv1.3"], _TLS13 + _GCM + _CBC_SHA2),
    "ELBSecurityPolicy-TLS13-1-3-2021-06": (["TLSv1.3"], _TLS13),
    "ELBSecurityPolicy-TLS-1-2-2017-01": (["TLSv1.2"], _GCM + _CBC_SHA2 + _RSA[:2] + _RSA[3:5]),
    "ELBSecurityPolicy-TLS-1-2-Ext-2018-06": (["TLSv1.2"], _LEGACY),
    "ELBSecurityPolicy-TLS-1-1-2017-01": (["TLSv1.1", "TLSv1.2"], _LEGACY),
    "ELBSecurityPolicy-FS-1-2-Res-2020-10": (["TLSv1.2"], _GCM),
    "ELBSecurityPolicy-FS-1-2-2019-08": (["TLSv1.2"], _GCM + _CBC_SHA2 + _CBC_SHA1),
    "ELBSecurityPolicy-2015-05": (["TLSv1", "TLSv1.1", "TLSv1.2"], _LEGACY),
}


def policy_view(name: str) -> dict[str, Any]:
    protocols, ciphers = POLICIES[name]
    return {
        "SslProtocols": protocols,
        "Ciphers": [{"Name": cipher, "Priority": index + 1} for index, cipher in enumerate(ciphers)],
        "Name": name,
        "SupportedLoadBalancerTypes": ["application", "network"],
    }


@api.operation("DescribeSSLPolicies")
def describe_ssl_policies(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    names = params.get("Names") or list(POLICIES)
    for name in names:
        if name not in POLICIES:
            raise AwsError("SSLPolicyNotFound", f"SSL policy '{name}' not found")
    return {"SslPolicies": [policy_view(name) for name in dict.fromkeys(names)]}
