"""Shared fixtures: each kind of real server lives in its own module under tests/support."""

pytest_plugins = [
    "tests.support.sshd",
    "tests.support.smtp",
    "tests.support.databases",
    "tests.support.brokers",
    "tests.support.private_postgres",
    "tests.support.private_rabbitmq",
    "tests.support.ansible",
    "tests.support.jump",
    "tests.support.web",
]
