"""Webhook targets that cannot be turned inward: address classification and the checks at
subscription and at delivery (pure, with a fake resolver)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest
from notify_fakes import ENT_A, NOW, FakeUnitOfWork

from notify_svc import handlers
from notify_svc.adapters.webhook import Pinned, Refused, TargetGuard
from notify_svc.domain import InvalidField, address_problem, target_problem
from notify_svc.domain.addresses import IPAddress, address_kind


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("8.8.8.8", "public"),
        ("2606:4700::1111", "public"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:169.254.169.254", "link-local"),
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
    ],
)
def test_addresses_are_classified(address: str, kind: str) -> None:
    assert address_kind(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize(
    ("address", "strict", "allowing_private"),
    [
        ("8.8.8.8", True, True),
        ("127.0.0.1", False, True),
        ("10.0.0.1", False, True),
        ("169.254.169.254", False, False),
        ("224.0.0.1", False, False),
        ("0.0.0.0", False, False),
        ("240.0.0.1", False, False),
    ],
)
def test_allowing_private_targets_admits_loopback_and_private_only(
    address: str, strict: bool, allowing_private: bool
) -> None:
    ip = ipaddress.ip_address(address)
    assert (address_problem(ip, allow_private=False) is None) is strict
    assert (address_problem(ip, allow_private=True) is None) is allowing_private


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:8080/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/hook",
        "http://localhost/hook",
        "http://api.localhost/hook",
        "https://user:pw@hooks.example.com/x",
    ],
)
def test_an_inward_webhook_target_is_refused(target: str) -> None:
    assert target_problem("webhook", target) is not None


def test_link_local_stays_refused_when_private_targets_are_allowed() -> None:
    assert target_problem("webhook", "http://127.0.0.1:9/x", allow_private=True) is None
    assert target_problem("webhook", "http://169.254.169.254/", allow_private=True) is not None


def resolver(table: dict[str, Sequence[str]]):  # type: ignore[no-untyped-def]  # test helper
    async def resolve(host: str) -> Sequence[IPAddress]:
        return [ipaddress.ip_address(a) for a in table.get(host, ())]

    return resolve


async def test_a_name_resolving_inward_is_refused_at_subscription_naming_target() -> None:
    uow = FakeUnitOfWork()
    resolve = resolver({"inward.example.com": ["93.184.216.34", "10.0.0.7"]})
    command = handlers.Subscribe("webhook", "https://inward.example.com/h", ["*"])

    with pytest.raises(InvalidField) as refused:
        await handlers.create_subscription(
            uow, command=command, viewer=ENT_A, created_by="u", now=NOW, resolve=resolve
        )

    assert refused.value.field == "target"
    assert "10.0.0.7" in refused.value.problem
    assert uow.subscriptions.rows == {}
    fine = handlers.Subscribe("webhook", "https://unknown.example.com/h", ["*"])
    created = await handlers.create_subscription(  # does not resolve yet: checked at delivery
        uow, command=fine, viewer=ENT_A, created_by="u", now=NOW, resolve=resolve
    )
    assert created.target == "https://unknown.example.com/h"


async def test_delivery_pins_the_checked_address_and_refuses_rebinding() -> None:
    table: dict[str, Sequence[str]] = {"hooks.example.com": ["93.184.216.34"]}
    guard = TargetGuard(allow_private=False, resolve=resolver(table))

    pinned = await guard.pin("https://hooks.example.com:8443/x?y=1")
    assert isinstance(pinned, Pinned)
    assert str(pinned.url) == "https://93.184.216.34:8443/x?y=1"
    assert pinned.headers == {"Host": "hooks.example.com:8443"}
    assert pinned.extensions == {"sni_hostname": "hooks.example.com"}

    table["hooks.example.com"] = ["127.0.0.1"]  # the name now points inward
    refused = await guard.pin("https://hooks.example.com:8443/x")
    assert isinstance(refused, Refused)
    assert refused.permanent
    assert "loopback" in refused.error
    gone = await guard.pin("https://nowhere.example.com/x")
    assert isinstance(gone, Refused)
    assert not gone.permanent  # may resolve later: retried
