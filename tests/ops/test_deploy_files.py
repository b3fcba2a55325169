"""The deployment files in deploy/, validated without a Docker daemon (none runs here): the
compose file parsed and checked against the Dockerfile and the code it starts, `docker compose
config` when the compose plugin exists, nginx.conf equal to what chatbot.ops.production renders and
accepted by `nginx -t`, and the systemd units through `systemd-analyze verify` with their paths
pointed at this checkout (docs/deploy.md says what was validated and what was run)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from chatbot.ops import production

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
APP_SERVICES = {"migrate", "web", "worker", "beat", "llm"}
SECRETS = ("SECRET_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def _stages() -> dict[str, list[str]]:
    """The Dockerfile's stages and each one's instruction lines (continuations joined)."""
    stages: dict[str, list[str]] = {}
    text = re.sub(r"\\\n\s*", " ", (DEPLOY / "Dockerfile").read_text())
    current: list[str] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.match(r"FROM\s+\S+\s+AS\s+(\w+)", line, re.IGNORECASE)
        if match:
            current = stages.setdefault(match.group(1), [])
        current.append(line.strip())
    return stages


def test_the_compose_file_has_every_part_with_health_checks(compose):
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "nginx"} | APP_SERVICES
    assert "pgvector" in services["postgres"]["image"]
    assert "pg_isready" in str(services["postgres"]["healthcheck"]["test"])
    assert "ping" in str(services["redis"]["healthcheck"]["test"])
    # Rotation on /readyz for the web, liveness through nginx on /healthz.
    assert "/readyz" in str(services["web"]["healthcheck"]["test"])
    assert "/healthz" in str(services["nginx"]["healthcheck"]["test"])
    assert services["web"]["deploy"]["replicas"] >= 2
    assert services["beat"]["deploy"]["replicas"] == 1, "two beats would run everything twice"
    web_needs = services["web"]["depends_on"]
    assert web_needs["migrate"]["condition"] == "service_completed_successfully"
    assert web_needs["postgres"]["condition"] == "service_healthy"
    assert services["nginx"]["depends_on"]["web"]["condition"] == "service_healthy"


def test_the_compose_commands_start_code_that_exists(compose):
    services = compose["services"]
    assert "chatbot.asgi:application" in services["web"]["command"]
    assert (REPO / "chatbot" / "asgi.py").exists()
    for name in ("worker", "beat"):
        command = services[name]["command"]
        assert command[:3] == ["celery", "-A", "chatbot"]
        assert command[3] == name
    assert (REPO / "chatbot" / "celery.py").exists()
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert "from chatbot.ops.localmodel import gguf_path" in " ".join(services["llm"]["command"])
    environment = services["web"]["environment"]
    assert environment["LOCAL_LLM_BASE_URL"] == "http://llm:8765/v1"
    assert "@postgres:5432/" in environment["DATABASE_URL"]
    assert "@redis:6379/" in environment["REDIS_URL"]


def test_secrets_come_from_the_environment_and_have_no_default():
    text = (DEPLOY / "compose.yaml").read_text()
    for name in SECRETS:
        uses = re.findall(r"\$\{" + name + r"([^}]*)\}", text)
        assert uses, name
        assert all(use.startswith(":?") for use in uses), f"{name} must be required: {uses}"
    assert "ENV SECRET_KEY" not in (DEPLOY / "Dockerfile").read_text()


def test_the_example_environment_names_every_required_secret_and_holds_none():
    example = dict(
        line.split("=", 1)
        for line in (DEPLOY / "env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    for name in SECRETS:
        assert example[name] == "", name


def test_every_setting_the_example_names_reaches_the_app(compose):
    """The example named EMAIL_* settings that compose never passed (port 587 with STARTTLS was
    silently ignored, the team's left-message email never sent)."""
    example = [
        line.split("=", 1)[0]
        for line in (DEPLOY / "env.example").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    compose_only = {"POSTGRES_PASSWORD", "REDIS_PASSWORD", "HTTP_PORT"}
    for service in ("web", "worker", "beat"):
        passed = set(compose["services"][service]["environment"])
        assert set(example) - compose_only <= passed, (service, set(example) - passed)


def test_the_dockerfile_builds_the_stages_compose_asks_for(compose):
    stages = _stages()
    assert set(stages) == {"build", "app", "nginx"}
    targets = {spec["build"]["target"] for spec in compose["services"].values() if "build" in spec}
    assert targets <= set(stages)
    assert compose["x-app"]["build"]["dockerfile"] == "deploy/Dockerfile"
    for lines in stages.values():
        for line in lines:
            if line.startswith("COPY") and "--from" not in line:
                *sources, _target = line.split()[1:]
                for source in sources:
                    assert source == "." or (REPO / source).exists(), line
    app = " ".join(stages["app"])
    assert "collectstatic" in app and "compilemessages" in app
    assert "USER chatbot" in app and "/readyz" in app
    assert "chatbot.asgi:application" in app
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert {"**/.env", ".venv", ".git"} <= set(ignored), "deploy/.env is where the secrets are"


@pytest.mark.skipif(
    subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0
    if shutil.which("docker")
    else True,
    reason="no docker compose plugin here: the YAML checks above stand in for it",
)
def test_docker_compose_config_accepts_the_file():
    env = {"SECRET_KEY": "k", "POSTGRES_PASSWORD": "p", "REDIS_PASSWORD": "r", "PATH": "/usr/bin"}
    done = subprocess.run(
        ["docker", "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_deploy_nginx_conf_is_what_production_renders_and_nginx_accepts_it(tmp_path):
    committed = (DEPLOY / "nginx.conf").read_text()
    assert committed == production.nginx_config(production.COMPOSE_NGINX), (
        "deploy/nginx.conf is rendered from chatbot.ops.production.COMPOSE_NGINX: render it again"
    )
    try:
        nginx = production.nginx_binary()
    except production.NotReady as missing:
        pytest.skip(str(missing))
    # `web` resolves only inside compose's network; the rest is checked as written.
    config = tmp_path / "nginx.conf"
    config.write_text(committed.replace("server web:8000 ", "server 127.0.0.1:8000 "))
    done = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(config), "-e", str(tmp_path / "error.log"),
         "-g", f"pid {tmp_path / 'nginx.pid'};"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_nginx_logs_no_query_string_and_never_marks_a_process_down():
    """An operator walk replayed a whole conversation from the access log: the chat socket's
    query string carries the conversation's token; another found 44 tokens in the error log,
    whose lines carry the request line. And after a full restart the site said "back in a
    moment" for 10 s after the processes were ready (nginx's default fail_timeout); with 2 s,
    after a kill, "no live upstreams" for 10-15 s (a websocket counts as a success only when it
    ends, so a restarted process that only carried sockets stayed marked down)."""
    for config in (
        production.nginx_config(production.COMPOSE_NGINX),
        (DEPLOY / "nginx.conf").read_text(),
    ):
        log_format = re.search(r"log_format chatbot (.*?);", config, re.S).group(1)
        assert "$uri" in log_format
        for variable in ("$request ", "$request_uri", "$args", "$query_string", "$http_referer"):
            assert variable not in log_format, variable
        access = re.findall(r"access_log ([^;]*);", config)
        assert access and all(a == "off" or a.endswith(" chatbot") for a in access), access
        servers = re.findall(r"^\s*server (\S+)( [^;]*)?;", config, re.M)
        assert servers and all(options == " max_fails=0" for _, options in servers), servers
        sockets = re.search(r"location /ws/ \{(.*?)\}", config, re.S).group(1)
        assert re.search(r"error_log \S+ crit;", sockets), "socket errors would log the token"


def test_systemd_units_verify_against_this_checkout(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    env_file = tmp_path / "env"
    env_file.write_text("SECRET_KEY=k\n")
    units = []
    for unit in (DEPLOY / "systemd").iterdir():
        text = unit.read_text().replace("/opt/chatbot", str(REPO))
        text = text.replace("/etc/chatbot/env", str(env_file))
        name = unit.name.replace("@.service", "@8001.service")
        (tmp_path / name).write_text(text)
        if name.endswith(".service"):
            units.append(f"./{name}")
    done = subprocess.run(
        [analyze, "verify", "--man=no", *units], cwd=tmp_path, capture_output=True, text=True
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0 and "Unknown" not in output, output
    assert len(units) == 4
