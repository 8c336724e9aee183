"""The answer found by the agent's frame, whatever a noisy login prints around it."""

from __future__ import annotations

from fleetstat.agent import __main__ as agent_main
from fleetstat.ssh import framing

TOKEN = "gAAAAABn" + "x" * 120


def test_the_agent_and_the_collector_agree_on_the_mark():
    assert agent_main.ANSWER_MARK == framing.ANSWER_MARK
    printed = agent_main.frame(TOKEN).encode()
    assert framing.unframe(printed) == framing.Output(TOKEN.encode())


def test_noise_before_and_after_is_kept_apart_from_the_answer():
    printed = (
        b"Welcome to host7\n\x1b[1mLast login: Mon\x1b[0m\nfleetstat-shell:%OS%\n"
        + agent_main.frame(TOKEN).encode()
        + b"bye from .bash_logout\n"
    )
    output = framing.unframe(printed, "stty: 'standard input': Inappropriate ioctl for device\n")
    assert output.answer == TOKEN.encode()
    assert output.short is None
    assert output.noise == (
        "Welcome to host7 | Last login: Mon | bye from .bash_logout | "
        "stty: 'standard input': Inappropriate ioctl for device"
    )


def test_a_noise_line_without_its_line_feed_does_not_hide_the_frame():
    printed = b"no newline at the end of this banner" + agent_main.frame(TOKEN).encode()
    assert framing.unframe(printed).answer == TOKEN.encode()


def test_an_answer_cut_short_says_how_much_came():
    printed = agent_main.frame(TOKEN).encode()[:60]
    output = framing.unframe(printed)
    assert output.short == len(output.answer) < len(TOKEN)


def test_no_frame_leaves_only_noise_and_the_jobs_own_lines_are_not_noise():
    output = framing.unframe(b"fleetstat-shell:%OS%\n", "fleetstat-job: pid=77\n")
    assert output == framing.Output(b"", None)
    flood = framing.unframe(b"junk " * 1000)
    assert flood.answer == b""
    assert flood.noise is not None and len(flood.noise) == framing.NOISE_LEN


def test_a_fake_mark_inside_a_line_is_not_a_frame():
    printed = b"echo fleetstat-answer: 5\nhello\n"
    assert framing.unframe(printed).answer == b""


def test_a_frame_printed_by_the_login_before_the_agent_cannot_stand_in_for_the_answer():
    fake = b"\nfleetstat-answer: 4\nfake\n"
    printed = fake + agent_main.frame(TOKEN).encode()
    assert framing.unframe(printed).answer == TOKEN.encode()
