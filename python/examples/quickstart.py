"""isoreg from Python in one page (docs/python.md walks through it).

Run it after `make python`:

    PYTHONPATH=python python3 python/examples/quickstart.py

It uses a private segment of its own, removed at the end, so it touches
nothing else on the machine. python/tests/test_quickstart.py runs it.
"""

import urllib.error

from isoreg import (AccountBlockedError, AccountHealthStatus,
                    AccountIsolationManager, CircuitBreakerConfig,
                    FailureType)


def fetch_balance(user: str) -> float:
    """A stand-in for an exchange call: user1's API key was revoked."""
    if user == "user1":
        raise urllib.error.HTTPError("https://api.kraken.com/0/private/Balance",
                                     403, "Forbidden", {}, None)
    return 1250.0


def main() -> None:
    config = CircuitBreakerConfig(failure_threshold=3, success_threshold=2,
                                  timeout_seconds=300)
    with AccountIsolationManager(config) as manager:
        for user in ("user1", "user2"):
            manager.register_account("user", user, "KRAKEN")

        # The reference's calls, by hand.
        ok, reason = manager.can_execute_operation("user", "user2", "KRAKEN")
        print("user2 may trade:", ok, "-", reason)
        manager.record_success("user", "user2", "KRAKEN",
                               operation_time_ms=120.0)
        manager.record_failure("user", "user1", "KRAKEN",
                               Exception("EAPI:Invalid key"),
                               FailureType.AUTHENTICATION_ERROR)

        # The same with a guard: ask, time, classify, record, re-raise.
        for attempt in range(4):
            for user in ("user1", "user2"):
                try:
                    with manager.guard("user", user, "KRAKEN"):
                        fetch_balance(user)
                except AccountBlockedError as blocked:
                    print("attempt %d: %s blocked: %s"
                          % (attempt, blocked.account, blocked.reason))
                except urllib.error.HTTPError as err:
                    print("attempt %d: user/%s/KRAKEN failed: HTTP %d"
                          % (attempt, user, err.code))

        status, metrics = manager.get_account_status("user", "user1", "KRAKEN")
        print("user1:", status.value, "failures:", metrics["total_failures"],
              "breakdown:", metrics["failure_breakdown"])
        status2, metrics2 = manager.get_account_status("user", "user2",
                                                       "KRAKEN")
        print("user2:", status2.value, "failures:",
              metrics2["total_failures"])
        assert status is AccountHealthStatus.QUARANTINED
        assert status2 is AccountHealthStatus.HEALTHY

        report = manager.get_isolation_report()
        print("accounts: %d, quarantined: %d, isolation: %s"
              % (report["total_accounts"], report["quarantined_accounts"],
                 report["isolation_guarantee"]))

        # After the API key is fixed, an operator releases the account.
        manager.reset_account("user", "user1", "KRAKEN")
        print("user1 after reset:",
              manager.get_account_status("user", "user1", "KRAKEN")[0].value)


if __name__ == "__main__":
    main()
