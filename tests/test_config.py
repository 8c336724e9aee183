"""The XML config: the seed format, the <clients> format, settings, errors and the doc."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fleetstat import config
from fleetstat.core.errors import ConfigError
from fleetstat.core.metrics import ALERT_TYPES
from fleetstat.core.model import Settings

SEED = """\
<client ip="127.0.0.1" port="22" username="user" password="password" mail="asa@asda.com">
    <alert type="memory" limit="50%" />
    <alert type="cpu" limit="20%" />
</client>
"""

DOC = Path(__file__).parent.parent / "docs" / "config.md"


def write(tmp_path: Path, text: str | bytes, mode: int = 0o600, name: str = "clients.xml") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    path.chmod(mode)
    return path


def load(tmp_path: Path, text: str | bytes, environ: dict[str, str] | None = None) -> config.Config:
    return config.load(write(tmp_path, text), environ or {})


def refused(
    tmp_path: Path, text: str | bytes, environ: dict[str, str] | None = None
) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, environ)
    return caught.value


def clients(body: str, settings: str = "") -> str:
    return f"<clients>\n{settings}{body}</clients>\n"


# ---------------------------------------------------------------- the seed format


def test_seed_example_loads_one_client_with_two_rules(tmp_path: Path) -> None:
    loaded = load(tmp_path, SEED)
    (client,) = loaded.clients
    assert (client.ip, client.port, client.username) == ("127.0.0.1", 22, "user")
    assert client.password == "password"
    assert client.mail == ("asa@asda.com",)
    assert [(rule.type, rule.limit) for rule in client.alerts] == [("memory", 50), ("cpu", 20)]
    assert [rule.line for rule in client.alerts] == [2, 3]
    assert client.line == 1


def test_seed_gets_default_settings_with_the_database_next_to_the_config(tmp_path: Path) -> None:
    settings = load(tmp_path, SEED).settings
    assert settings.db == f"sqlite:///{tmp_path}/fleetstat.db"
    assert settings.concurrency == 50
    assert settings.smtp.port == 25


def test_seed_with_typographic_quotes_says_to_use_straight_quotes(tmp_path: Path) -> None:
    err = refused(tmp_path, SEED.replace('"', "\u2019"))
    assert [each.line for each in err.each()] == [1, 2, 3]
    assert "typographic quotes (\u2019) around the value of ip on <client>" in err.problem
    assert "XML needs straight quotes (\" or ')" in err.problem
    assert 'ip="127.0.0.1" port="22" username="user" password="…" mail="asa@asda.com"' in err.fix
    assert err.each()[2].fix == 'write type="cpu" limit="20%"'


def test_the_quote_hint_never_shows_a_password(tmp_path: Path) -> None:
    text = '<client ip="10.0.0.1" username="u"\n password=\u2019Sup3rS3cret\u2019/>\n'
    err = refused(tmp_path, text)
    assert "Sup3rS3cret" not in str(err)
    assert (err.line, err.fix) == (2, 'write password="…" (… is the value as you wrote it)')


def test_the_quote_hint_names_the_attribute_that_has_the_quotes(tmp_path: Path) -> None:
    text = (
        "<clients>\n<!-- written like ip=\u2019x\u2019 by the old tool -->\n"
        '<client ip="10.0.0.1" username="u" name="Bob\u2019s box x=\u2019y"\n'
        "  mail=\u201cops@example.org\u201d/>\n</clients>\n"
    )
    err = refused(tmp_path, text)
    assert (err.line, len(err.each())) == (4, 1)
    assert "(\u201c) around the value of mail on <client>" in err.problem
    assert err.fix == 'write mail="ops@example.org"'


def test_the_quote_hint_lists_every_attribute_with_quotes_at_once(tmp_path: Path) -> None:
    text = clients(
        '<client ip=\u201810.0.0.1\u2019 username="u"/>\n'
        '<client ip="10.0.0.2" username=\u2019u\u2019 password-env=\u2019PW\u2019/>\n'
    )
    err = refused(tmp_path, text)
    assert [each.line for each in err.each()] == [2, 3]
    assert (
        err.each()[1].fix == 'write username="u" password-env="…" (… is the value as you wrote it)'
    )


def test_typographic_quotes_are_found_on_their_line_in_a_windows_encoded_file(
    tmp_path: Path,
) -> None:
    text = clients('  <client ip="10.0.0.1" username="a"/>\n  <client ip=\u201810.0.0.2\u2019/>\n')
    err = refused(tmp_path, text.encode("cp1252"))
    assert (err.line, "typographic quotes (\u2018)" in err.problem) == (3, True)


# ---------------------------------------------------------------- mistakes, each with its line

BAD = [
    ("unknown attribute", '<client ip="1.2.3.4"\n usename="u"/>', "no attribute 'usename'", 2),
    ("unknown element", '<client ip="1.2.3.4" username="u">\n<alerts/></client>', "<alerts>", 2),
    ("unknown root", '<hosts><client ip="1.2.3.4" username="u"/></hosts>', "root element", 1),
    (
        "unknown alert type",
        '<client ip="1.2.3.4" username="u">\n<alert type="mem" limit="5"/></client>',
        "unknown alert type 'mem'",
        2,
    ),
    ("bad port", '<client ip="1.2.3.4" username="u" port="70000"/>', "not a port", 1),
    ("port zero", '<client ip="1.2.3.4" username="u" port="0"/>', "not a port", 1),
    (
        "limit not a percentage",
        '<client ip="1.2.3.4" username="u">\n\n<alert type="cpu" limit="lots"/></client>',
        "not a percentage",
        3,
    ),
    (
        "limit over 100",
        '<client ip="1.2.3.4" username="u">\n<alert type="disk" limit="150%"/></client>',
        "over 100%",
        2,
    ),
    (
        "load limit as a percentage",
        '<client ip="1.2.3.4" username="u">\n<alert type="load" limit="80%"/></client>',
        "PER CORE",
        2,
    ),
    (
        "mount on a cpu alert",
        '<client ip="1.2.3.4" username="u">\n<alert type="cpu" limit="5" mount="/"/></client>',
        "mount on a cpu alert",
        2,
    ),
    (
        "repeat not a duration",
        '<client ip="1.2.3.4" username="u">\n<alert type="cpu" limit="5" repeat="soon"/></client>',
        "not a duration",
        2,
    ),
    (
        "for below one",
        '<client ip="1.2.3.4" username="u">\n<alert type="cpu" limit="5" for="0"/></client>',
        "less than 1",
        2,
    ),
    (
        "two rules of one kind",
        '<client ip="1.2.3.4" username="u">\n<alert type="cpu" limit="5"/>\n'
        '<alert type="cpu" limit="9"/></client>',
        "first is on line 2",
        3,
    ),
    (
        "duplicate ip and port",
        clients('<client ip="10.0.0.1" username="a"/>\n<client ip="10.0.0.1" username="b"/>\n'),
        "10.0.0.1:22 is listed twice, on lines 2 and 3",
        3,
    ),
    (
        "duplicate IPv6 written two ways",
        clients('<client ip="::1" username="a"/>\n<client ip="0:0::1" username="b"/>\n'),
        "listed twice",
        3,
    ),
    ("missing username", '<client ip="1.2.3.4" password="p"/>', "has no username", 1),
    ("missing ip", '\n<client username="u"/>', "has no ip", 2),
    ("empty file", "  \n", "the config is empty", 1),
    ("no clients", "<clients>\n</clients>", "lists no <client>", 1),
    ("not an address", '<client ip="300.1.1.1" username="u"/>', "neither an IP", 1),
    ("bracketed IPv6", '<client ip="[::1]" username="u"/>', "brackets", 1),
    ("bad mail", '<client ip="1.2.3.4" username="u" mail="a@b.com, bob"/>', "'bob'", 1),
    ("display-name mail", '<client ip="h" username="u" mail="Bob &lt;b@c.d&gt;"/>', "mail", 1),
    ("zero timeout", '<client ip="1.2.3.4" username="u" timeout="0s"/>', "zero", 1),
    ("empty password", '<client ip="1.2.3.4" username="u" password=""/>', "empty", 1),
    (
        "password and password-env",
        '<client ip="1.2.3.4" username="u" password="p" password-env="FLEETSTAT_CLIENT_PW"/>',
        "both password and password-env",
        1,
    ),
    ("missing keyfile", '<client ip="h" username="u" keyfile="no-such-key"/>', "keyfile", 1),
    ("text in a client", '<client ip="h" username="u">hello</client>', "text inside", 1),
    (
        "smtp password in the XML",
        clients('<client ip="h" username="u"/>\n', '<settings>\n<smtp password="x"/></settings>\n'),
        "FLEETSTAT_SMTP_PASSWORD",
        3,
    ),
    (
        "unknown host-keys policy",
        clients('<client ip="h" username="u"/>\n', '<settings host-keys="trust"/>\n'),
        "unknown host-keys policy 'trust'",
        2,
    ),
    (
        "unknown settings attribute",
        clients('<client ip="h" username="u"/>\n', '<settings concurency="3"/>\n'),
        "did you mean 'concurrency'",
        2,
    ),
    (
        "two settings",
        clients('<client ip="h" username="u"/>\n', "<settings/>\n<settings/>\n"),
        "a second <settings>",
        3,
    ),
    (
        "bad database URL",
        clients('<client ip="h" username="u"/>\n', '<settings db="not a url"/>\n'),
        "not a database URL",
        2,
    ),
    (
        "element inside an alert",
        '<client ip="h" username="u">\n<alert type="cpu" limit="5"><mail/></alert></client>',
        "unknown element <mail> inside <alert>",
        2,
    ),
    (
        "two smtp",
        clients('<client ip="h" username="u"/>\n', "<settings>\n<smtp/>\n<smtp/></settings>\n"),
        "a second <smtp>",
        4,
    ),
    (
        "attribute on clients",
        '<clients owner="me">\n<client ip="h" username="u"/></clients>',
        "owner",
        1,
    ),
    ("unclosed tag", '<client ip="h" username="u">\n<alert type="cpu" limit="5">\n', "XML", 3),
    ("bare ampersand", '<client ip="h" username="u" password="a&b"/>', "column 42", 1),
]


@pytest.mark.parametrize(("xml", "fragment", "line"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_each_mistake_names_the_file_line_and_a_fix(
    tmp_path: Path, xml: str, fragment: str, line: int
) -> None:
    err = refused(tmp_path, xml)
    assert fragment in str(err)
    assert err.line == line
    assert str(err).startswith(f"{tmp_path / 'clients.xml'}:{line}: ")
    assert err.fix


def test_unknown_alert_type_lists_the_known_ones(tmp_path: Path) -> None:
    err = refused(tmp_path, '<client ip="h" username="u"><alert type="ram" limit="5"/></client>')
    assert all(kind in err.fix for kind in ALERT_TYPES)


def test_a_password_never_appears_in_an_error(tmp_path: Path) -> None:
    err = refused(tmp_path, '<client ip="h" username="u" password="s3cret" port="x"/>')
    assert "s3cret" not in str(err)


def test_an_unreadable_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config"):
        config.load(tmp_path / "missing.xml", {})


# ---------------------------------------------------------------- values


def test_client_attributes_are_parsed(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "id_ed25519").write_text("key")
    text = (
        '<client ip="Web1.Example.COM" port="2222" username="stats" keyfile="keys/id_ed25519"'
        ' mail="a@x.org, b@Y.org,a@x.org" name="web one" python="/opt/py/bin/python3"'
        ' timeout="2m"/>'
    )
    (client,) = load(tmp_path, text).clients
    assert client.ip == "web1.example.com"
    assert client.address == "web1.example.com:2222"
    assert client.keyfile == tmp_path / "keys" / "id_ed25519"
    assert client.mail == ("a@x.org", "b@y.org")
    assert (client.name, client.python, client.timeout) == ("web one", "/opt/py/bin/python3", 120)
    assert client.password is None


def test_name_defaults_to_the_ip_and_ipv6_is_canonical(tmp_path: Path) -> None:
    (client,) = load(tmp_path, '<client ip="FE80:0:0::1" username="u"/>').clients
    assert (client.ip, client.name) == ("fe80::1", "fe80::1")


def test_password_env_is_read_when_a_pass_asks_not_at_load(tmp_path: Path) -> None:
    text = '<client ip="h" username="u" password-env="FLEETSTAT_CLIENT_WEB_PW"/>'
    loaded = load(tmp_path, text, {})
    assert loaded.clients[0].password is None
    (client,) = config.with_passwords(loaded, {"FLEETSTAT_CLIENT_WEB_PW": "from env"}).clients
    assert client.password == "from env"


def test_an_unset_password_env_is_that_clients_problem_alone_when_a_pass_asks(
    tmp_path: Path,
) -> None:
    text = (
        '<clients>\n<client ip="h" username="u" password-env="FLEETSTAT_CLIENT_NOPE"/>\n'
        '<client ip="g" username="u" password-env="FLEETSTAT_CLIENT_YES"/>\n</clients>'
    )
    loaded = load(tmp_path, text, {})
    unset, ready = config.with_passwords(loaded, {"FLEETSTAT_CLIENT_YES": "pw"}).clients
    assert (ready.password, ready.secret_error) == ("pw", None)
    assert unset.password is None
    assert unset.secret_error == (
        f"{tmp_path / 'clients.xml'}:2: password-env names FLEETSTAT_CLIENT_NOPE, which is not "
        "set (or empty) in fleetstat's environment — fix: set FLEETSTAT_CLIENT_NOPE where "
        "fleetstat runs, or use keyfile"
    )


@pytest.mark.parametrize(
    "name", ["FLEETSTAT_SMTP_PASSWORD", "FLEETSTAT_WEB_PASSWORD_FILE", "FLEETSTAT_DB"]
)
def test_a_client_may_not_name_a_variable_fleetstat_reads_itself(tmp_path: Path, name: str) -> None:
    text = (
        '<clients>\n<settings client-env-prefix="FLEETSTAT_"/>\n'
        f'<client ip="h" username="u" password-env="{name}"/>\n</clients>'
    )
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    assert caught.value.line == 3
    assert f"password-env names {name}, a variable fleetstat reads itself" in caught.value.problem
    assert "FLEETSTAT_CLIENT_" in caught.value.fix


def test_a_password_env_outside_the_client_prefix_is_refused_with_the_fix(tmp_path: Path) -> None:
    text = (
        '<clients>\n<client ip="h" username="u" password-env="AWS_SECRET_ACCESS_KEY"/>\n</clients>'
    )
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, {"AWS_SECRET_ACCESS_KEY": "x"})
    assert caught.value.line == 2
    assert "does not start with FLEETSTAT_CLIENT_" in caught.value.problem
    assert "FLEETSTAT_CLIENT_AWS_SECRET_ACCESS_KEY" in caught.value.fix
    assert "client-env-prefix" in caught.value.fix


def test_the_client_prefix_is_a_setting(tmp_path: Path) -> None:
    text = (
        '<clients>\n<settings client-env-prefix="MON_"/>\n'
        '<client ip="h" username="u" password-env="MON_WEB1"/>\n</clients>'
    )
    (client,) = config.with_passwords(load(tmp_path, text), {"MON_WEB1": "pw"}).clients
    assert client.password == "pw"


def test_an_empty_client_prefix_is_refused(tmp_path: Path) -> None:
    text = '<clients>\n<settings client-env-prefix=""/>\n<client ip="h" username="u"/>\n</clients>'
    with pytest.raises(ConfigError, match="client-env-prefix"):
        load(tmp_path, text)


def test_alert_attributes_are_parsed(tmp_path: Path) -> None:
    text = (
        '<client ip="h" username="u">\n'
        '<alert type="disk" limit="90" mount="/var" repeat="30m" for="3"/>\n'
        '<alert type="load" limit="1.5" repeat="0"/>\n'
        '<alert type="swap" limit="12.5%" repeat="90s"/>\n'
        "</client>"
    )
    disk, load_rule, swap = load(tmp_path, text).clients[0].alerts
    assert (disk.key, disk.limit, disk.repeat, disk.for_runs) == ("disk:/var", 90, 1800, 3)
    assert (load_rule.limit, load_rule.repeat) == (1.5, 0)
    assert (swap.limit, swap.repeat, swap.for_runs) == (12.5, 90, 1)


FULL_SETTINGS = """\
<settings db="sqlite:///data/fleet.db" concurrency="8" connect-timeout="5s" timeout="2m"
          host-keys="strict" known-hosts="~/kh" cpu-interval="0.5" max-events="50"
          mail-max-events="20">
  <smtp host="smtp.example.com" tls="ssl" user="fleet" sender="fleet@example.com" timeout="30"/>
</settings>
"""


def test_settings_are_read_from_the_xml(tmp_path: Path) -> None:
    settings = load(tmp_path, clients('<client ip="h" username="u"/>\n', FULL_SETTINGS)).settings
    assert settings.db == f"sqlite:///{tmp_path}/data/fleet.db"
    assert (settings.concurrency, settings.connect_timeout, settings.timeout) == (8, 5, 120)
    assert (settings.host_keys, settings.known_hosts) == ("strict", Path("~/kh").expanduser())
    assert (settings.cpu_interval, settings.max_events, settings.mail_max_events) == (0.5, 50, 20)
    smtp = settings.smtp
    assert (smtp.host, smtp.port, smtp.tls, smtp.user) == ("smtp.example.com", 465, "ssl", "fleet")
    assert (smtp.sender, smtp.timeout, smtp.password) == ("fleet@example.com", 30, None)


@pytest.mark.parametrize(
    ("smtp", "port"), [("", 25), ('tls="starttls"', 587), ('port="2525"', 2525)]
)
def test_smtp_port_follows_tls_unless_given(tmp_path: Path, smtp: str, port: int) -> None:
    text = clients('<client ip="h" username="u"/>\n', f"<settings><smtp {smtp}/></settings>\n")
    assert load(tmp_path, text).settings.smtp.port == port


def test_other_databases_are_kept_as_written(tmp_path: Path) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/fleet"
    text = clients('<client ip="h" username="u"/>\n', f'<settings db="{url}"/>\n')
    assert load(tmp_path, text).settings.db == url


# ---------------------------------------------------------------- the environment


def test_environment_wins_over_the_xml(tmp_path: Path) -> None:
    environ = {
        "FLEETSTAT_DB": "sqlite:///elsewhere.db",
        "FLEETSTAT_CONCURRENCY": "3",
        "FLEETSTAT_TIMEOUT": "90s",
        "FLEETSTAT_CONNECT_TIMEOUT": "1m",
        "FLEETSTAT_HOST_KEYS": "off",
        "FLEETSTAT_KNOWN_HOSTS": "/etc/fleetstat/known_hosts",
        "FLEETSTAT_SMTP_HOST": "127.0.0.1",
        "FLEETSTAT_SMTP_PORT": "2525",
        "FLEETSTAT_SMTP_TLS": "starttls",
        "FLEETSTAT_SMTP_USER": "envuser",
        "FLEETSTAT_SMTP_PASSWORD": "envpass",
        "FLEETSTAT_SMTP_FROM": "env@example.com",
    }
    loaded = load(tmp_path, clients('<client ip="h" username="u"/>\n', FULL_SETTINGS), environ)
    settings, smtp = loaded.settings, loaded.settings.smtp
    assert settings.db == f"sqlite:///{tmp_path}/elsewhere.db"
    assert (settings.concurrency, settings.timeout, settings.connect_timeout) == (3, 90, 60)
    assert (settings.host_keys, settings.known_hosts) == ("off", Path("/etc/fleetstat/known_hosts"))
    assert (smtp.host, smtp.port, smtp.tls, smtp.user) == ("127.0.0.1", 2525, "starttls", "envuser")
    assert (smtp.password, smtp.sender) == ("envpass", "env@example.com")
    assert any("host-keys is off" in warning for warning in loaded.warnings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FLEETSTAT_CONCURRENCY", "many"),
        ("FLEETSTAT_SMTP_PORT", "99999"),
        ("FLEETSTAT_HOST_KEYS", "yes"),
        ("FLEETSTAT_TIMEOUT", "forever"),
        ("FLEETSTAT_SMTP_TLS", "tls"),
        ("FLEETSTAT_DB", "::"),
        ("FLEETSTAT_SMTP_FROM", "nobody"),
    ],
)
def test_a_bad_environment_value_names_the_variable(tmp_path: Path, name: str, value: str) -> None:
    err = refused(tmp_path, SEED, {name: value})
    assert f"{name}={value!r}" in str(err)
    assert err.fix


def test_smtp_password_comes_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text("from file\n")
    loaded = load(tmp_path, SEED, {"FLEETSTAT_SMTP_PASSWORD_FILE": str(secret)})
    assert loaded.settings.smtp.password == "from file"


def test_smtp_password_file_that_is_missing_names_the_variable(tmp_path: Path) -> None:
    err = refused(tmp_path, SEED, {"FLEETSTAT_SMTP_PASSWORD_FILE": str(tmp_path / "nope")})
    assert "FLEETSTAT_SMTP_PASSWORD_FILE" in str(err)


def test_smtp_password_from_both_variables_is_refused(tmp_path: Path) -> None:
    environ = {"FLEETSTAT_SMTP_PASSWORD": "a", "FLEETSTAT_SMTP_PASSWORD_FILE": "/dev/null"}
    assert "both" in refused(tmp_path, SEED, environ).problem


def test_settings_from_the_environment_alone(tmp_path: Path) -> None:
    settings = config.settings_from_env({"FLEETSTAT_DB": "sqlite:///x.db"}, base=tmp_path)
    assert settings.db == f"sqlite:///{tmp_path}/x.db"
    assert settings.smtp.host == "localhost"


# ---------------------------------------------------------------- hostile XML


def test_an_entity_expansion_bomb_is_refused(tmp_path: Path) -> None:
    levels = ['<!ENTITY l0 "lollollollollollollollollollol">']
    levels += [f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)]
    bomb = f'<?xml version="1.0"?>\n<!DOCTYPE client [\n{chr(10).join(levels)}\n]>\n'
    err = refused(tmp_path, bomb + '<client ip="h" username="&l9;"/>\n')
    assert "entities are refused" in err.problem
    assert err.line == 3


def test_an_external_entity_is_refused_and_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    xml = (
        f'<!DOCTYPE client [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
        '<client ip="h" username="&xxe;"/>\n'
    )
    err = refused(tmp_path, xml)
    assert "external entity 'xxe'" in err.problem
    assert "TOPSECRET" not in str(err)


def test_a_document_type_declaration_is_refused(tmp_path: Path) -> None:
    err = refused(tmp_path, '<!DOCTYPE client SYSTEM "client.dtd">\n<client ip="h" username="u"/>')
    assert "document type declaration" in err.problem


# ---------------------------------------------------------------- warnings and summary


@pytest.mark.parametrize(("mode", "who"), [(0o664, "its group"), (0o646, "others")])
def test_a_config_others_may_change_is_refused_with_the_chmod(
    tmp_path: Path, mode: int, who: str
) -> None:
    path = write(tmp_path, SEED, mode=mode)
    with pytest.raises(ConfigError) as caught:
        config.load(path, {})
    assert f"the config {path} is writable by {who}" in caught.value.problem
    assert caught.value.fix == f"run chmod go-w {path}"


def test_a_config_in_a_folder_others_may_change_is_refused_unless_the_folder_is_sticky(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    path = write(folder, SEED)
    folder.chmod(0o777)
    with pytest.raises(ConfigError) as caught:
        config.load(path, {})
    assert f"the config's folder {folder} is writable by group and others" in caught.value.problem
    assert caught.value.fix == f"run chmod go-w {folder}"
    folder.chmod(0o1777)  # like /tmp: nobody replaces another's file
    assert config.load(path, {}).clients


def test_a_readable_config_with_passwords_warns_to_chmod(tmp_path: Path) -> None:
    warnings = config.check(write(tmp_path, SEED, mode=0o644), {})
    assert len(warnings) == 1
    assert "chmod 600" in warnings[0] and "password-env" in warnings[0]


def test_a_private_config_with_passwords_does_not_warn(tmp_path: Path) -> None:
    assert config.check(write(tmp_path, SEED, mode=0o600), {}) == []


def test_a_readable_config_without_passwords_does_not_warn(tmp_path: Path) -> None:
    text = SEED.replace('password="password"', 'password-env="FLEETSTAT_CLIENT_PW"')
    assert config.check(write(tmp_path, text, mode=0o644), {"FLEETSTAT_CLIENT_PW": "x"}) == []


def test_alerts_without_mail_warn(tmp_path: Path) -> None:
    text = '<client ip="h" username="u"><alert type="cpu" limit="5"/></client>'
    (warning,) = load(tmp_path, text).warnings
    assert "has alerts but no mail" in warning


def test_describe_summarises_clients_database_and_smtp(tmp_path: Path) -> None:
    many = "".join(f'<client ip="10.0.0.{i}" username="u" mail="ops@x.org"/>\n' for i in range(7))
    settings = '<settings db="postgresql://fleet:hunter2@db/fleet"><smtp host="mx"/></settings>\n'
    text = config.describe(load(tmp_path, clients(many, settings)))
    assert "7 clients (10.0.0.0, 10.0.0.1, 10.0.0.2, 10.0.0.3, 10.0.0.4 and 2 more)" in text
    assert "postgresql://fleet:***@db/fleet" in text and "hunter2" not in text
    assert "mx:25" in text and "1 address " in text


def test_parse_duration_names_what_was_wrong() -> None:
    assert config.parse_duration("5m", what="--every") == 300
    with pytest.raises(ConfigError, match="--every"):
        config.parse_duration("often", what="--every")


# ---------------------------------------------------------------- the reference document


def doc_sections() -> dict[str, str]:
    """The reference doc cut at its headings, keyed by the element each heading names."""
    parts = re.split(r"^(#+ .*)$", DOC.read_text(), flags=re.MULTILINE)
    sections = {}
    for heading, body in zip(parts[1::2], parts[2::2], strict=True):
        element = re.search(r"`<(\w+)>`", heading)
        if element:
            sections[element[1]] = body
    return sections


@pytest.mark.parametrize("element", [name for name, attrs in config.ELEMENTS.items() if attrs])
def test_every_attribute_is_documented_under_its_element(element: str) -> None:
    section = doc_sections()[element]
    for attr in config.ELEMENTS[element]:
        row = re.search(rf"^\| `{re.escape(attr.name)}` \|.*$", section, flags=re.MULTILINE)
        assert row, f"`{attr.name}` of <{element}> is missing from docs/config.md"
        assert attr.default in row[0], f"default of `{attr.name}` differs from the doc"
        if attr.env:
            assert f"`{attr.env}`" in row[0], f"{attr.env} is missing from the row of {attr.name}"


def test_every_variable_and_alert_type_is_documented() -> None:
    text = DOC.read_text()
    for name in config.env_names():
        assert f"`{name}`" in text
    for kind in ALERT_TYPES:
        assert f"`{kind}`" in text


def test_the_doc_shows_the_seed_example() -> None:
    assert SEED in DOC.read_text()


def test_the_examples_in_the_doc_load(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "id_db").write_text("key")
    blocks = re.findall(r"```xml\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    assert len(blocks) >= 3
    for block in blocks:
        assert load(tmp_path, block, {"WEB_PASSWORD": "x"}).clients


# ---------------------------------------------------------------- hysteresis and mail settings

CLIENT_OPEN = '<client ip="10.0.0.5" username="stat" password="x" mail="ops@example.org">\n'


def test_clear_and_clear_for_are_parsed_in_the_metrics_unit(tmp_path: Path) -> None:
    body = (
        CLIENT_OPEN + '  <alert type="cpu" limit="90%" clear="80%" clear-for="3"/>\n'
        '  <alert type="load" limit="2" clear="1.5"/>\n</client>\n'
    )
    (client,) = load(tmp_path, clients(body)).clients
    cpu, load_rule = client.alerts
    assert (cpu.clear, cpu.clear_for) == (80.0, 3)
    assert (load_rule.clear, load_rule.clear_for) == (1.5, 1)


def test_clear_above_the_limit_names_line_and_fix(tmp_path: Path) -> None:
    body = CLIENT_OPEN + '  <alert type="cpu" limit="80%" clear="90%"/>\n</client>\n'
    err = refused(tmp_path, clients(body))
    assert err.line == 3
    assert "clear='90%' is above limit='80%'" in err.problem
    assert "at or below the limit" in err.fix


def test_a_load_clear_written_as_a_percentage_is_refused(tmp_path: Path) -> None:
    body = CLIENT_OPEN + '  <alert type="load" limit="2" clear="50%"/>\n</client>\n'
    assert "PER CORE" in refused(tmp_path, clients(body)).problem


def test_mail_templates_must_be_a_folder_and_mail_expire_a_duration(tmp_path: Path) -> None:
    (tmp_path / "mail").mkdir()
    body = CLIENT_OPEN + "</client>\n"
    loaded = load(tmp_path, clients(body, '<settings mail-templates="mail" mail-expire="6h"/>\n'))
    assert loaded.settings.mail_templates == tmp_path / "mail"
    assert loaded.settings.mail_expire == 6 * 3600
    assert Settings().mail_expire == 86400
    err = refused(tmp_path, clients(body, '<settings mail-templates="nowhere"/>\n'))
    assert "is not a folder" in err.problem
    err = refused(tmp_path, clients(body, '<settings mail-expire="0"/>\n'))
    assert "mail-expire" in str(err)


# ---------------------------------------------------------------- every problem at once


SEVEN_MISTAKES = """\
<clients>
  <settings concurency="3" timeout="soon"/>
  <client ip="10.0.0.1" usename="stats"/>
  <client ip="10.0.0.2" username="u" port="99999" mail="bob">
    <alert type="mem" limit="5"/>
  </client>
  <client ip="10.0.0.3" username="u">
    <alert type="cpu" limit="lots"/>
  </client>
</clients>
"""


def test_every_problem_of_a_file_is_reported_in_one_read(tmp_path: Path) -> None:
    err = refused(tmp_path, SEVEN_MISTAKES)
    found = [(each.line, each.problem.split(":")[0]) for each in err.each()]
    assert found == [
        (2, "<settings> has no attribute 'concurency'"),
        (2, "timeout='soon' on <settings>"),
        (3, "<client> has no attribute 'usename'"),
        (4, "port='99999' on <client>"),
        (4, "mail='bob' on <client>"),
        (5, "type='mem' on <alert>"),
        (8, "limit='lots' on <alert>"),
    ]
    assert all(each.fix and each.path == str(tmp_path / "clients.xml") for each in err.each())
    assert str(err).count("\n  fix: ") == 7


def test_a_misspelt_required_attribute_is_one_problem_not_two(tmp_path: Path) -> None:
    err = refused(tmp_path, '<client ip="10.0.0.1" usename="stats"/>')
    assert len(err.each()) == 1
    assert "did you mean 'username'" in err.fix


def test_a_client_listed_twice_is_reported_with_the_other_problems(tmp_path: Path) -> None:
    text = clients(
        '<client ip="10.0.0.1" username="a"/>\n<client ip="10.0.0.1" username="b"/>\n'
        '<client ip="10.0.0.2" username="c" timeout="0"/>\n'
    )
    assert [each.line for each in refused(tmp_path, text).each()] == [3, 4]


def test_bad_environment_values_are_all_named(tmp_path: Path) -> None:
    environ = {"FLEETSTAT_CONCURRENCY": "many", "FLEETSTAT_TIMEOUT": "forever"}
    err = refused(tmp_path, SEED, environ)
    assert [each.problem.split(":")[0] for each in err.each()] == [
        "FLEETSTAT_CONCURRENCY='many'",
        "FLEETSTAT_TIMEOUT='forever'",
    ]
