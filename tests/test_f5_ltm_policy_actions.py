"""An LTM policy on a VPN virtual whose action resets the connection (tmsh `shutdown connection`;
F5's bigip_policy_rule module: "When type is reset, the system resets the connection upon event", REST attribute
`shutdown`) or answers the client itself (`http-reply redirect`) can discard the flow, as an iRule with
`TCP::close` / `HTTP::redirect` can: the flow is unknown, not allowed. A policy that only logs changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_lb_f5_paths import conf, run

POLICY = """ltm policy /Common/block_pol {
    controls { forwarding }
    requires { tcp }
    rules {
        only_corp {
            actions {
                0 {
                    ACTION
                }
            }
            conditions {
                0 {
                    tcp
                    address
                    not
                    matches
                    values { 198.51.100.0/24 }
                }
            }
        }
    }
    strategy /Common/first-match
}
"""
ON_SSTP = "    policies {\n        /Common/block_pol { }\n    }\n"


@pytest.mark.parametrize(("action", "expected"), [
    ("shutdown\n                    connection", "unknown"),  # was "allowed"
    ("http-reply\n                    redirect\n                    location http://example.com/", "unknown"),
    ("forward\n                    select\n                    pool /Common/sstp_pool", "unknown"),
    ("log\n                    write\n                    message hello", "allowed"),
])
def test_policy_actions_that_end_the_flow_make_it_unknown(tmp_path: Path, action: str, expected: str) -> None:
    text = conf(v443=ON_SSTP, extra=POLICY.replace("ACTION", action))
    assert run(tmp_path, text)["tcp/443"] == expected
