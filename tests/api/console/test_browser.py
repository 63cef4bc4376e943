"""The console in a real browser: Playwright driving Debian's Chromium against a real server.

Each test leaves a full-page screenshot in its temporary folder. Without /usr/bin/chromium the
tests skip (outside CI) or fail (under CI=true, where .ci/run installs it).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Response, expect, sync_playwright

from tests.api.console.test_pages import batch_api
from tests.support import CREDENTIAL, CmqAccounts, RunningServer

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
IN_CI = os.environ.get("CI", "").lower() == "true"
TOPIC, QUEUE = "batch-events", "events"
SLOW = 50_000  # ms: a node starting, a job running
expect.set_options(timeout=15_000)  # the machine is shared: a page may take a few seconds


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if IN_CI:
            pytest.fail(f"{reason}; under CI=true .ci/run must install it")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


def open_page(browser: Browser, server: RunningServer, **options: Any) -> Page:
    context = browser.new_context(base_url=server.base_url, **options)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.on("dialog", lambda dialog: dialog.accept())  # the confirmations of terminate/delete
    return page


def sign_in(page: Page) -> None:
    page.goto("/console")
    page.get_by_label("SecretId").fill(CREDENTIAL.secret_id)
    page.get_by_label("SecretKey").fill(CREDENTIAL.secret_key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Jobs")).to_be_visible()


@pytest.fixture
def page(
    browser: Browser, console_server: RunningServer, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """A signed-in page at 1280 px; fails the test on any script error, Content-Security-Policy
    violation or failed load of a script, style or poll (a page itself may answer 4xx)."""
    opened = open_page(browser, console_server, viewport={"width": 1280, "height": 900})
    problems: list[str] = []

    def console_error(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(message.text)

    def failed_load(response: Response) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            problems.append(f"{response.status} {response.url}")

    opened.on("pageerror", lambda error: problems.append(str(error)))
    opened.on("console", console_error)
    opened.on("response", failed_load)
    sign_in(opened)
    yield opened
    opened.screenshot(path=tmp_path / f"{request.node.name}.png", full_page=True)
    opened.context.close()
    assert problems == []


@pytest.fixture(scope="module")
def events_queue(console_server: RunningServer) -> Iterator[Any]:
    """A topic whose messages reach a queue, made with the official CMQ SDK."""
    from cmq.queue import QueueMeta
    from cmq.subscription import SubscriptionMeta
    from cmq.topic import TopicMeta

    accounts = CmqAccounts()
    account = accounts(console_server.base_url)
    queue = account.get_queue(QUEUE)
    queue.create(QueueMeta())
    account.get_topic(TOPIC).create(TopicMeta())
    meta = SubscriptionMeta()
    meta.Protocal = "queue"
    meta.Endpoint = QUEUE
    meta.NotifyContentFormat = "SIMPLIFIED"
    account.get_subscription(TOPIC, "to-events").create(meta)
    yield queue
    accounts.close()


def create_env_in_console(page: Page, name: str) -> str:
    """Create a one-node environment from the form, its events to TOPIC; wait until it runs."""
    page.goto("/console/envs/new")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Nodes").fill("1")
    page.locator("#env-topic").select_option(TOPIC)
    page.get_by_label("COMPUTE_NODE_CREATED").check()
    page.get_by_role("button", name="Create").click()
    expect(page.locator(".note-ok")).to_contain_text("Created env-")
    env_id = page.url.rsplit("/", 1)[1]
    nodes = page.locator("#env-live table").first
    expect(nodes).to_contain_text("RUNNING", timeout=SLOW)  # arrives by polling, no reload
    return env_id


created: dict[str, str] = {}


@pytest.fixture
def env_id(browser: Browser, console_server: RunningServer, events_queue: Any) -> str:
    """The environment the environment test made, or one made the same way."""
    if "env" not in created:
        page = open_page(browser, console_server)
        sign_in(page)
        created["env"] = create_env_in_console(page, "shared-env")
        page.context.close()
    return created["env"]


def job_request(env: str, **job: Any) -> str:
    """A SubmitJob body: prepare → (left, right) → report."""

    def task(name: str, command: str, instances: int = 1) -> dict[str, Any]:
        return {
            "TaskName": name,
            "EnvId": env,
            "TaskInstanceNum": instances,
            "Application": {"DeliveryForm": "LOCAL", "Command": command},
        }

    body = {
        "Placement": {"Zone": "ap-guangzhou-1"},
        "Job": {
            "JobName": "pipeline",
            "Tasks": [
                task("prepare", "echo prepared; echo note >&2"),
                task("left", "echo left $BATCH_TASK_INSTANCE_INDEX", 2),
                task("right", "echo right"),
                task("report", "echo report"),
            ],
            "Dependences": [
                {"StartTask": "prepare", "EndTask": "left"},
                {"StartTask": "prepare", "EndTask": "right"},
                {"StartTask": "left", "EndTask": "report"},
                {"StartTask": "right", "EndTask": "report"},
            ],
            "Tags": [{"Key": "team", "Value": "docs"}],
            **job,
        },
    }
    return json.dumps(body, indent=2)


def test_sign_in_create_a_topic_and_a_queue_subscription(page: Page) -> None:
    page.get_by_role("link", name="Queues", exact=True).click()
    page.get_by_label("New queue").fill("ui-queue")
    page.get_by_role("button", name="Create queue").click()
    expect(page.locator(".note-ok")).to_have_text("Created queue ui-queue.")

    page.get_by_role("link", name="Topics", exact=True).click()
    page.get_by_label("New topic").fill("ui-topic")
    page.get_by_role("button", name="Create topic").click()
    expect(page.get_by_role("heading", name="Topic ui-topic")).to_be_visible()

    page.get_by_label("Name").fill("to-ui-queue")
    page.locator("#sub-queue").select_option("ui-queue")
    page.get_by_label("Filter tags").fill("job, instance")
    page.get_by_role("button", name="Subscribe").click()
    row = page.locator("tr", has_text="to-ui-queue")
    expect(row).to_contain_text("ui-queue")
    expect(row.locator(".tag")).to_have_text(["job", "instance"])

    page.get_by_label("Name").fill("hook")
    page.get_by_label("an HTTP endpoint").check()
    page.get_by_label("HTTP URL").fill("http://127.0.0.1:9/hook")
    page.get_by_role("button", name="Subscribe").click()
    hook = page.locator("tr", has_text="hook")
    expect(hook).to_contain_text("http://127.0.0.1:9/hook")
    hook.get_by_role("button", name="Remove").click()
    expect(page.locator(".note-ok")).to_have_text("Removed subscription hook.")
    expect(page.locator("tr", has_text="http://127.0.0.1:9/hook")).to_have_count(0)

    page.get_by_label("Body", exact=True).fill("hello from the console")
    page.get_by_label("Tags", exact=True).fill("job")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator(".note-ok")).to_contain_text("Published message")
    page.get_by_role("link", name="ui-queue").click()
    expect(page.locator(".message .raw")).to_have_text("hello from the console")


def test_create_an_environment_and_watch_its_node_start(
    page: Page, events_queue: Any, tmp_path: Path
) -> None:
    created["env"] = create_env_in_console(page, "console-env")

    expect(page.locator("#env-live")).to_contain_text("CREATE_COMPUTE_NODE")  # the activity log
    page.get_by_role("link", name="Environments", exact=True).click()
    expect(page.locator("tr", has_text=created["env"])).to_contain_text("1 running")


def test_submit_a_job_with_notifications_watch_it_finish_and_read_logs(
    page: Page, env_id: str, tmp_path: Path
) -> None:
    page.goto(f"/console/jobs/new?env={env_id}")
    page.locator("#request").fill(job_request(env_id))
    page.locator("#topic").select_option(TOPIC)
    page.get_by_label("TASK_INSTANCE_SUCCEED").check()
    page.get_by_role("button", name="Submit").click()
    expect(page.locator(".note-ok")).to_contain_text("Submitted job-")
    page.evaluate("window.notReloaded = true")

    badge = page.locator("#job-live .heading .badge")
    expect(badge).to_have_text("SUCCEED", timeout=SLOW)
    assert page.evaluate("window.notReloaded") is True  # the page followed the job by itself
    expect(page.locator("svg.dag .dag-node.st-ok")).to_have_count(4)
    expect(page.locator("#task-left tbody tr")).to_have_count(2)
    expect(page.locator("#job-live")).to_contain_text("JOB_SUCCEED")  # the event history
    page.screenshot(path=tmp_path / "job.png")  # the first screen: state, graph, instances

    page.locator("#logs-left-1").click()
    expect(page.locator("#stdout")).to_have_text("left 1\n")
    page.go_back()
    page.locator("#logs-prepare-0").click()
    expect(page.locator("#stderr")).to_have_text("note\n")


def _finished(server: RunningServer, job_id: str) -> None:
    deadline = time.monotonic() + SLOW / 1000
    while batch_api(server, "DescribeJob", {"JobId": job_id})["JobState"] not in (
        "SUCCEED",
        "FAILED",
    ):
        assert time.monotonic() < deadline, f"{job_id} did not finish"
        time.sleep(0.2)


def test_the_queue_view_shows_decoded_event_messages_without_consuming_them(
    page: Page, console_server: RunningServer, env_id: str, events_queue: Any, tmp_path: Path
) -> None:
    request = json.loads(job_request(env_id, JobName="notified"))
    request["Job"]["Notifications"] = [
        {
            "TopicName": TOPIC,
            "EventConfigs": [{"EventName": "JOB_RUNNING"}, {"EventName": "JOB_SUCCEED"}],
        }
    ]
    job_id = batch_api(console_server, "SubmitJob", request)["JobId"]
    _finished(console_server, job_id)

    page.get_by_role("link", name="Queues", exact=True).click()
    page.get_by_role("link", name=QUEUE, exact=True).click()
    message = page.locator(".message", has_text=job_id).filter(has_text="JOB_SUCCEED")
    expect(message.locator(".event-name")).to_have_text("JOB_SUCCEED")
    expect(message.locator(".decoded")).to_contain_text('"JobState": "SUCCEED"')
    raw = message.locator(".raw").inner_text()
    assert raw.startswith("eyJ")  # Base64 of '{"', as a receiver gets it
    page.screenshot(path=tmp_path / "queue.png")

    accounts = CmqAccounts()  # a fresh connection: the fixture's may have idled out
    try:
        received = accounts(console_server.base_url).get_queue(QUEUE).batch_receive_message(16, 1)
    finally:
        accounts.close()
    assert received, "the peeked messages are still there to be received"


def test_terminate_a_running_job(page: Page, env_id: str) -> None:
    page.goto("/console/jobs/new")
    body = json.loads(job_request(env_id, JobName="sleeper"))
    body["Job"]["Tasks"] = [
        {
            "TaskName": "sleep",
            "EnvId": env_id,
            "Application": {"DeliveryForm": "LOCAL", "Command": "sleep 120"},
        }
    ]
    del body["Job"]["Dependences"]
    page.locator("#request").fill(json.dumps(body))
    page.get_by_role("button", name="Submit").click()
    badge = page.locator("#job-live .heading .badge")
    expect(badge).to_have_text("RUNNING", timeout=SLOW)

    page.get_by_role("button", name="Terminate").click()  # confirmed in the dialog

    expect(page.locator(".note-ok")).to_contain_text("Termination of job-")
    expect(badge).to_have_text("FAILED", timeout=SLOW)
    expect(page.locator("#task-sleep")).to_contain_text("TERMINATED_BY_USER")
    expect(page.get_by_role("button", name="Retry")).to_be_visible()


def test_the_job_editor_checks_before_sending(page: Page) -> None:
    page.goto("/console/jobs/new")
    editor = page.locator("#request")
    submit = page.get_by_role("button", name="Submit")

    editor.fill('{"Placement": ')
    expect(page.locator("#json-status")).to_contain_text("Not valid JSON")
    expect(submit).to_be_disabled()

    editor.fill(
        '{"Placement": {"Zone": "ap-guangzhou-1"}, "Job": {"Tasks": [{"Application": '
        '{"DeliveryForm": "LOCAL", "Command": "true"}}]}}'
    )
    expect(submit).to_be_enabled()
    submit.click()
    error = page.locator("#submit-error")
    expect(error).to_contain_text("EnvId")
    expect(page.locator("#request")).to_have_value(editor.input_value())


def test_readable_on_a_phone_and_usable_by_keyboard(
    browser: Browser, console_server: RunningServer, tmp_path: Path
) -> None:
    phone = open_page(
        browser, console_server, viewport={"width": 390, "height": 844}, is_mobile=True
    )
    phone.goto("/console/sign-in")
    # autofocus is applied after the page renders: wait for it, then type without clicking
    expect(phone.get_by_label("SecretId")).to_be_focused()
    phone.keyboard.type(CREDENTIAL.secret_id)
    phone.keyboard.press("Tab")
    phone.keyboard.type(CREDENTIAL.secret_key)
    phone.keyboard.press("Enter")
    expect(phone.get_by_role("heading", name="Jobs")).to_be_visible()

    phone.keyboard.press("Tab")
    assert phone.evaluate("document.activeElement.textContent") == "Skip to content"
    for path in ("/console/jobs", "/console/envs", "/console/queues/events", "/console/topics"):
        phone.goto(path)
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width} px wide on a 390 px screen"
    phone.screenshot(path=tmp_path / "phone.png", full_page=True)
    phone.context.close()


def test_the_timeline_shows_attempts_on_their_nodes_live_and_retries(
    page: Page, env_id: str, tmp_path: Path
) -> None:
    flaky = '[ "$BATCH_TASK_INSTANCE_ATTEMPT" = 1 ] && exit 3; sleep 1'
    body = json.loads(job_request(env_id, JobName="timed"))
    body["Job"]["Tasks"] = [
        {
            "TaskName": "slow",
            "EnvId": env_id,
            "TaskInstanceNum": 2,
            "Application": {"DeliveryForm": "LOCAL", "Command": "sleep 3"},
        },
        {
            "TaskName": "flaky",
            "EnvId": env_id,
            "MaxRetryCount": 1,
            "Application": {"DeliveryForm": "LOCAL", "Command": flaky},
        },
    ]
    body["Job"].pop("Dependences")
    page.goto(f"/console/jobs/new?env={env_id}")
    page.locator("#request").fill(json.dumps(body))
    page.get_by_role("button", name="Submit").click()
    expect(page.locator(".note-ok")).to_contain_text("Submitted job-")

    timeline = page.locator("#job-live svg.timeline")
    expect(timeline.locator("rect.tl-bar.st-run").first).to_be_visible(timeout=SLOW)  # live
    expect(page.locator("#job-live .heading .badge")).to_have_text("SUCCEED", timeout=SLOW)
    expect(timeline.locator("rect.tl-bar.st-ok")).to_have_count(3)
    retried = timeline.locator("rect.tl-bar.st-retry")
    expect(retried).to_have_count(1)
    assert "flaky[0] attempt 1: RETRIED" in (retried.locator("title").text_content() or "")
    expect(timeline.locator("text.tl-node")).to_contain_text(["node-"])
    page.locator("#timeline-h").scroll_into_view_if_needed()
    page.screenshot(path=tmp_path / "timeline.png")

    page.goto(f"/console/envs/{env_id}")
    busy = page.locator("#env-live svg.timeline")
    expect(busy.locator("rect.tl-busy").first).to_be_attached()
    expect(busy).to_contain_text("% busy")
