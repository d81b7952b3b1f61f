"""Settings of chaos runs (``TONGBAN_CHAOS_*``): where the databases live, and every timeout of the nodes."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ChaosSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TONGBAN_CHAOS_", env_file=".env", extra="ignore")

    # The PostgreSQL server whose ``postgres`` database creates and drops the nodes' databases
    # (``tongban_chaos_<seed>_<node>``).
    pg_admin_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    # Databases are named ``<db_prefix>_<seed>_<code>``; a test gives a prefix of its own, so that two suites
    # running the same seed on one server do not drop each other's databases.
    db_prefix: str = "tongban_chaos"
    # Debian's nats-server; three of them form the run's own cluster on free loopback ports.
    nats_server: str = "/usr/sbin/nats-server"

    # Short timeouts of the node processes, so faults are recovered from within a short run.
    resend_initial_s: float = 0.5
    resend_max_s: float = 2.0
    resend_max_attempts: int = 10_000
    poll_interval_s: float = 0.05
    fetch_timeout_s: float = 0.2
    ack_wait_s: float = 2.0
    duplicate_window_s: float = 2.0
    publish_timeout_s: float = 2.0
    directory_refresh_s: float = 5.0
    apply_retry_s: float = 0.2
    apply_max_attempts: int = 50
    pg_idle_in_transaction_timeout_s: float = 3.0
    pg_lock_timeout_s: float = 3.0

    # The fault wrapper's probabilities per publication in every node process (0 turns one off).
    fault_drop: float = 0.05
    fault_duplicate: float = 0.1
    fault_delay: float = 0.1
    fault_reorder: float = 0.05

    # Node processes: how long a start may take, and how long a graceful stop may take before SIGKILL.
    start_timeout_s: float = 120.0
    stop_timeout_s: float = 15.0
    # After the faults stop: how long every outbox may take to be receipted and every inbox applied.
    quiesce_timeout_s: float = 120.0
    # ... raised to this many seconds per message still in flight when the operations end (a backlog when the
    # machine fell behind the arrival rate).
    quiesce_per_message_s: float = 0.5
    # ... and this many per case or task waiting for the workload's clerks (a move-in, a move-out by hand).
    quiesce_per_clerk_step_s: float = 3.0
    # Operations submitted at once (threads).
    concurrency: int = 4
    # Operations started per second, on average.
    rate_per_s: float = 4.0
    # Arrivals wait while this many operations are waiting for a submitter (a machine slower than the rate).
    max_waiting: int = 16
    # ... and while the workload's clerks have more than this many cases and tasks waiting for them.
    max_clerk_backlog: int = 40
