"""The chat in a real browser: Playwright driving Debian's Chromium against `bedside serve`'s
app over the bundled default corpus with the real MiniLM.

One server for the module; every request the browser makes is recorded, and anything not
addressed to 127.0.0.1 fails the run. Screenshots are saved under
``$BEDSIDE_ARTIFACTS`` (default: test-artifacts/ in the repository)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.slow

SEED = (
    "What are the management options for patients who are heparin (unfractionated heparin) "
    "non-responders?"
)
ANSWER_TIMEOUT_MS = 120_000
DONE = re.compile(r"Review status:|⚠")
ARTIFACTS = Path(
    os.environ.get("BEDSIDE_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts")
)


@pytest.fixture(scope="module")
def bedside(
    default_index_dir: Path, app_server: Any, page_server: Any, tmp_path_factory: Any
) -> Iterator[dict[str, str]]:
    """Bedside on one port; a host page on a second, allowlisted origin; another host page on
    a third origin that is not allowlisted."""
    from assistant.pipeline import Assistant
    from assistant.settings import load_settings
    from ui.app import create_app
    from ui.feedback import FeedbackStore
    from ui.service import Service
    from ui.widget import demo_page

    urls: dict[str, str] = {}
    with (
        page_server(lambda: demo_page(urls["bedside"], heading="Intranet")) as allowed,
        page_server(lambda: demo_page(urls["bedside"], heading="Elsewhere")) as other,
    ):
        home = tmp_path_factory.mktemp("serve-home")
        settings = load_settings(
            "default",
            home=home,
            index_dir=default_index_dir,
            server={"cors_origins": [allowed], "frame_ancestors": ["'self'", allowed]},
        )
        service = Service(
            Assistant.from_settings(settings, refresh=False),
            FeedbackStore(home / "feedback.sqlite3"),
        )
        with app_server(create_app(service, token="")) as base:
            urls.update(bedside=base, allowed=allowed, other=other)
            yield {**urls, "feedback_db": str(home / "feedback.sqlite3")}


@pytest.fixture(scope="module")
def requests_seen() -> list[str]:
    return []


@pytest.fixture
def page(browser: Any, requests_seen: list[str]) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.on("request", lambda r: requests_seen.append(r.url))

    def only_loopback(route: Any) -> None:
        host = urlparse(route.request.url).hostname
        if host == "127.0.0.1":
            route.continue_()
        else:
            route.abort()

    context.route(re.compile(r"^(https?|wss?)://"), only_loopback)
    pg = context.new_page()
    dialogs: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.dialogs = dialogs  # type: ignore[attr-defined]
    yield pg
    context.close()


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _bot_messages(root: Any) -> Any:
    return root.locator("#bedside-chat [data-testid='bot']")


def _ask(root: Any, question: str, expected_bot_messages: int) -> Any:
    root.locator("#bedside-question textarea").fill(question)
    root.locator("#bedside-ask").click()
    return _answered(root, expected_bot_messages)


def _answered(root: Any, n: int) -> Any:
    """The n-th bot message, once it is a finished answer (it ends with the review status
    and the disclaimer) or an error notice."""
    from playwright.sync_api import expect

    message = _bot_messages(root).nth(n - 1)
    expect(message).to_contain_text(DONE, timeout=ANSWER_TIMEOUT_MS)
    return message


def test_seed_question_related_question_and_follow_up(page: Any, bedside: dict[str, str]) -> None:
    page.goto(f"{bedside['bedside']}/chat/", wait_until="load")
    page.locator("#bedside-question textarea").wait_for(timeout=60_000)
    first = _ask(page, SEED, 1)
    text = first.inner_text()
    # The body is in sections (by clinical task, or by source type as a setting).
    assert first.locator("h4").count() >= 2, text
    assert first.locator("a.cite").count() >= 3
    assert re.search(r"not a substitute for clinical judgement", text)
    assert "Review status: pending clinical review" in text
    panel = page.locator("#dose-check")
    panel.locator(".dose-check-panel").wait_for(timeout=10_000)
    assert "Dose check" in panel.inner_text()
    assert page.locator("#sources li[id^='src-']").count() >= 3
    assert "not a substitute" in page.locator("#bedside-disclaimer").inner_text()
    _shot(page, "01-seed-answer")

    # A citation marker links to its entry in the Sources panel.
    href = first.locator("a.cite").first.get_attribute("href")
    assert href and page.locator(href).count() == 1

    related = page.locator(".related-question:visible").first
    related.wait_for(timeout=10_000)
    asked = related.inner_text()
    related.click()
    _answered(page, 2)
    users = page.locator("#bedside-chat [data-testid='user']")
    assert users.nth(1).inner_text().strip() == asked.strip()
    _shot(page, "02-related-question")

    third = _ask(page, "and if CrCl is 25?", 3)
    follow = third.inner_text()
    assert re.search(r"heparin|argatroban|bivalirudin|antithrombin", follow, re.I), follow
    assert third.locator("a.cite").count() >= 1
    _shot(page, "03-follow-up")

    page.locator("#bedside-feedback").click()
    page.locator("#bedside-feedback textarea").fill("clear and cited")
    page.locator("#bedside-up").click()
    page.get_by_text("your feedback was saved").wait_for(timeout=10_000)


def test_html_in_a_question_is_inert(page: Any, bedside: dict[str, str]) -> None:
    page.goto(f"{bedside['bedside']}/chat/", wait_until="load")
    page.locator("#bedside-question textarea").wait_for(timeout=60_000)
    hostile = (
        '<img src=x onerror="window.__pwned=1;alert(1)"><script>window.__pwned=2</script>'
        "What is the heparin dose?"
    )
    _ask(page, hostile, 1)
    assert page.evaluate("window.__pwned") is None
    assert page.dialogs == []  # type: ignore[attr-defined]
    assert page.locator("#bedside-chat img[src='x']").count() == 0
    assert "<img" in page.locator("#bedside-chat").inner_text()
    _shot(page, "04-inert-html")


def test_widget_answers_from_a_second_origin(page: Any, bedside: dict[str, str]) -> None:
    page.goto(f"{bedside['allowed']}/", wait_until="load")
    component = page.locator("#web-component gradio-app")
    component.locator("#bedside-question textarea").wait_for(timeout=60_000)
    answer = _ask(
        component, "What is the bivalirudin dose for heparin-induced thrombocytopenia?", 1
    )
    assert answer.locator("a.cite").count() >= 1
    _shot(page, "05-widget-component")

    frame = page.frame_locator("#iframe iframe")
    frame.locator("#bedside-question textarea").wait_for(timeout=60_000)
    framed = _ask(frame, "What is the argatroban starting dose in hepatic impairment?", 1)
    assert framed.locator("a.cite").count() >= 1
    page.locator("#iframe").scroll_into_view_if_needed()
    _shot(page, "06-widget-iframe")


def test_framing_from_an_origin_not_allowlisted_is_refused(
    page: Any, bedside: dict[str, str]
) -> None:
    page.goto(f"{bedside['other']}/", wait_until="load")
    page.wait_for_timeout(3000)  # the same wait in which the allowlisted page shows both
    framed = [f for f in page.frames if f.parent_frame is not None]
    assert framed, "the host page has no iframe"
    assert all(f.locator("#bedside-question").count() == 0 for f in framed)
    # ... and the web component's cross-origin requests get no CORS allow header.
    assert page.locator("#web-component #bedside-question").count() == 0
    _shot(page, "07-frame-refused")


HEPARIN = "What is the unfractionated heparin dose for acute VTE treatment?"
APIXABAN = "What is the apixaban dose for atrial fibrillation?"
# The last bot message's top, relative to the top of the chat's scrolling box.
_TOP_JS = """(n) => {
  const bot = document.querySelectorAll("#bedside-chat [data-testid='bot']")[n - 1];
  let box = bot.parentElement;
  while (box && !(['auto', 'scroll'].includes(getComputedStyle(box).overflowY)
                  && box.scrollHeight > box.clientHeight)) box = box.parentElement;
  if (!box) return null;
  return {top: bot.getBoundingClientRect().top - box.getBoundingClientRect().top,
          height: bot.getBoundingClientRect().height, view: box.clientHeight};
}"""


def _api_answer(base: str, question: str, patient: dict[str, Any] | None = None) -> Any:
    import httpx

    body: dict[str, Any] = {"question": question}
    if patient:
        body["patient"] = patient
    r = httpx.post(f"{base}/api/ask", json=body, timeout=120)
    r.raise_for_status()
    return r.json()


def _assert_top_in_view(page: Any, n: int) -> None:
    """The n-th answer is taller than the chat, and its top (not its end) is in view."""
    where = None
    for _ in range(25):  # the scroll step runs just after the answer is drawn
        where = page.evaluate(_TOP_JS, n)
        if where and -2 <= where["top"] <= where["view"] / 2:
            break
        page.wait_for_timeout(200)
    assert where is not None, "the chat has no scrolling box"
    assert where["height"] > where["view"], f"answer {n} fits the chat; nothing to show: {where}"
    assert -2 <= where["top"] <= where["view"] / 2, f"answer {n}: its top is out of view: {where}"


def _facts(page: Any, **fields: str) -> None:
    if not page.locator("#bedside-age").is_visible():
        page.locator("#bedside-patient").click()
    for name, value in fields.items():
        if name == "sex":
            page.locator("#bedside-sex").get_by_text(value, exact=True).click()
        else:
            page.locator(f"#bedside-{name}").locator("input, textarea").first.fill(value)


def _new_conversation(page: Any) -> None:
    from playwright.sync_api import expect

    page.locator("#bedside-clear").click()
    expect(_bot_messages(page)).to_have_count(0, timeout=10_000)


def _findings(page: Any) -> list[tuple[str, str]]:
    rows = page.locator("#dose-check tr.finding")
    return [
        (rows.nth(i).get_attribute("data-rule") or "", rows.nth(i).inner_text())
        for i in range(rows.count())
    ]


def test_what_a_clinician_sees(page: Any, bedside: dict[str, str]) -> None:
    """A new answer shows from its top; Sources render Markdown; units are clinicians'
    units; the marks are readable badges; age, sex and creatinine reach the dose check."""
    base = bedside["bedside"]
    expected = _api_answer(base, HEPARIN)
    pint = [f for f in expected["verdict"]["findings"] if "USP_unit" in f["message"]]
    assert pint, "the heparin answer's findings carry no pint unit name; nothing to show"

    page.goto(f"{base}/chat/", wait_until="load")
    page.locator("#bedside-question textarea").wait_for(timeout=60_000)
    _ask(page, HEPARIN, 1)
    page.locator("#dose-check .dose-check-panel").wait_for(timeout=10_000)
    _assert_top_in_view(page, 1)
    _shot(page, "08-answer-top")

    # The passed checks are folded; a reader opens them to see every line.
    folded = page.locator("#dose-check details.dose-ok")
    if folded.count():
        folded.locator("summary").click()
    # Units as clinicians write them, everywhere on the page.
    body = page.locator("body").inner_text()
    assert "USP_unit" not in body and "international_unit" not in body
    assert "units/kg" in page.locator("#dose-check").inner_text()

    # The marks are badges with visible words, not glyphs the fonts lack.
    badges = page.locator("#dose-check .bedside-mark")
    assert badges.count() == len(expected["verdict"]["findings"]) + len(expected["withheld"])
    space = page.evaluate(
        """() => { const s = document.createElement('span'); s.textContent = '\u00a0';
        document.querySelector('#dose-check').appendChild(s);
        const w = s.getBoundingClientRect().width; s.remove(); return w; }"""
    )
    for i in range(badges.count()):
        badge = badges.nth(i)
        assert badge.inner_text().strip() in ("OK", "Warning", "Withheld")
        assert badge.bounding_box()["width"] > 4 * space
    assert not {"⛔", "✗"} & set(page.locator("#dose-check").inner_text())
    assert not {"⛔", "✗"} & set(page.locator("#bedside-chat").inner_text())
    page.locator("#dose-check").screenshot(path=str(ARTIFACTS / "09-dose-check-badges.png"))

    # Sources: Markdown rendered, every exact quote shown.
    sources = page.locator("#sources")
    shown = " ".join(sources.inner_text().split())
    assert "**" not in shown
    for c in expected["citations"]:
        words = re.sub(r"[*_`#]|^\s*[-+]\s+", "", c["quote"], flags=re.M).split()
        assert " ".join(words) in shown, c["quote"]
    if any("**" in c["quote"] for c in expected["citations"]):
        assert sources.locator("blockquote strong").count() >= 1

    # A second answer in the same conversation also shows from its top.
    _ask(page, "and if CrCl is 25?", 2)
    _assert_top_in_view(page, 2)
    _shot(page, "10-second-answer-top")

    # Age, sex and serum creatinine reach the guard: the same question for a 55 kg patient,
    # then for a 55 kg woman of 82 with a creatinine of 1.6 mg/dL.
    _new_conversation(page)
    _facts(page, weight="55")
    _ask(page, APIXABAN, 1)
    weight_only = _findings(page)
    assert "55 kg" in page.locator("#dose-check .patient-facts").inner_text()
    _new_conversation(page)
    _facts(page, age="82", sex="female", scr="1.6")
    _ask(page, APIXABAN, 1)
    facts = page.locator("#dose-check .patient-facts").inner_text()
    assert "55 kg, 82 years, female" in facts and "Cockcroft–Gault" in facts, facts
    assert _findings(page) != weight_only
    chat = page.locator("#bedside-chat")
    assert not {"⛔", "✗"} & set(chat.inner_text())
    if page.locator("#dose-check li.withheld").count() and "withheld" in chat.inner_text().lower():
        assert chat.locator(".bedside-mark.mark-block").count() >= 1  # kept by the sanitizer
    _shot(page, "11-patient-facts")


def test_no_request_left_loopback(requests_seen: list[str]) -> None:
    if not requests_seen:
        pytest.skip("no browser test ran before this one in this session")
    outside = [
        u
        for u in requests_seen
        if urlparse(u).scheme in ("http", "https", "ws", "wss")
        and urlparse(u).hostname != "127.0.0.1"
    ]
    assert outside == []


# ------------------------------------------------------------------ access and offline docs

TOKEN = "browser-test-token-long-enough-for-the-rule"


@pytest.fixture(scope="module")
def fast_servers(
    app_server: Any, tmp_path_factory: Any, fixture_pack: Path
) -> Iterator[dict[str, str]]:
    """Two servers over the fixture pack (hash embedder): one with token access, one open."""
    from assistant.pipeline import Assistant
    from assistant.settings import load_settings
    from ui.app import create_app
    from ui.feedback import FeedbackStore
    from ui.service import Service

    def service(access: str) -> Any:
        home = tmp_path_factory.mktemp(f"access-{access}")
        settings = load_settings(
            "fast", home=home, sources=[f"pack:{fixture_pack}"], server={"access": access}
        )
        return Service(Assistant.from_settings(settings), FeedbackStore(home / "fb.sqlite3"))

    with (
        app_server(create_app(service("token"), token=TOKEN)) as locked,
        app_server(create_app(service("none"), token="")) as open_,
    ):
        yield {"token": locked, "none": open_}


def _external(urls: list[str]) -> list[str]:
    return [
        u
        for u in urls
        if urlparse(u).scheme in ("http", "https", "ws", "wss")
        and urlparse(u).hostname != "127.0.0.1"
    ]


def test_with_token_access_the_browser_signs_in_and_the_chat_answers(
    page: Any, fast_servers: dict[str, str]
) -> None:
    base = fast_servers["token"]
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    page.goto(f"{base}/chat/", wait_until="load")
    assert urlparse(page.url).path == "/login"
    assert page.locator("#bedside-question").count() == 0
    _shot(page, "12-login-form")

    page.locator("#bedside-token").fill("not-the-token")
    page.locator("#bedside-sign-in").click()
    page.get_by_text("That token is not right.").wait_for(timeout=10_000)

    page.locator("#bedside-token").fill(TOKEN)
    page.locator("#bedside-sign-in").click()
    page.wait_for_url(f"{base}/chat/", timeout=30_000)
    cookie = next(c for c in page.context.cookies() if c["name"] == "bedside_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.locator("#bedside-question textarea").wait_for(timeout=60_000)
    answer = _ask(page, "What is the bivalirudin dose for heparin-induced thrombocytopenia?", 1)
    assert "Review status" in answer.inner_text()
    assert answer.locator("a.cite").count() >= 1
    _shot(page, "13-signed-in-answer")
    assert _external(seen) == []


def test_with_token_access_the_widget_demo_answers_through_both_embeddings_after_sign_in(
    page: Any, fast_servers: dict[str, str]
) -> None:
    """Bedside's own /widget-demo is the same site as the chat, so the SameSite=Strict
    session cookie travels with the iframe's page load and with the web component's
    same-origin calls: both answer once the browser has signed in."""
    base = fast_servers["token"]
    seen: list[str] = []
    refused: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    page.on("response", lambda r: refused.append(r.url) if r.status in (401, 403) else None)
    page.goto(f"{base}/widget-demo", wait_until="load")
    assert urlparse(page.url).path == "/login"
    assert page.locator("gradio-app, iframe").count() == 0
    page.locator("#bedside-token").fill(TOKEN)
    page.locator("#bedside-sign-in").click()
    page.wait_for_url(f"{base}/widget-demo", timeout=30_000)

    component = page.locator("#web-component gradio-app")
    component.locator("#bedside-question textarea").wait_for(timeout=60_000)
    answer = _ask(
        component, "What is the bivalirudin dose for heparin-induced thrombocytopenia?", 1
    )
    assert "Review status" in answer.inner_text()
    assert answer.locator("a.cite").count() >= 1
    _shot(page, "15-signed-in-widget-component")

    frame = page.frame_locator("#iframe iframe")
    frame.locator("#bedside-question textarea").wait_for(timeout=60_000)
    framed = _ask(frame, "What is the argatroban starting dose in hepatic impairment?", 1)
    assert "Review status" in framed.inner_text()
    assert framed.locator("a.cite").count() >= 1
    page.locator("#iframe").scroll_into_view_if_needed()
    _shot(page, "16-signed-in-widget-iframe")
    assert refused == []
    assert _external(seen) == []

    # Signed out, the same page is the sign-in form again: the embeddings held no other key.
    page.goto(f"{base}/logout", wait_until="load")
    page.goto(f"{base}/widget-demo", wait_until="load")
    assert urlparse(page.url).path == "/login"


def test_docs_render_swagger_ui_with_no_request_leaving_the_machine(
    page: Any, fast_servers: dict[str, str]
) -> None:
    seen: list[str] = []
    failed: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.goto(f"{fast_servers['none']}/docs", wait_until="load")
    page.locator(".swagger-ui .information-container .title").wait_for(timeout=30_000)
    assert "Bedside" in page.locator(".swagger-ui .information-container .title").inner_text()
    operations = page.locator(".swagger-ui .opblock-summary-path")
    operations.first.wait_for(timeout=30_000)
    shown = {operations.nth(i).inner_text().strip() for i in range(operations.count())}
    assert {"/api/ask", "/api/check", "/api/feedback", "/api/health"} <= shown, shown
    _shot(page, "14-docs-offline")
    assert any(u.endswith("/docs/assets/swagger-ui-bundle.js") for u in seen)
    assert _external(seen) == []
    assert failed == []


# ------------------------------------------------------------------ what a newcomer sees

LONG_QUESTION = (
    "What is the best course of action for a patient in septic shock who experiences a "
    "thromboembolic event despite receiving LMWH thromboprophylaxis, and what should be "
    "checked before the next dose is given?"
)
BIVALIRUDIN = "What is the bivalirudin dose for heparin-induced thrombocytopenia?"
# The rectangles the layout tests compare, in the page's coordinates.
_LAYOUT_JS = """() => {
  const rect = (e) => { if (!e) return null; const r = e.getBoundingClientRect();
    return {left: r.left, top: r.top, right: r.right, bottom: r.bottom,
            width: r.width, height: r.height}; };
  const chat = document.querySelector('#bedside-chat');
  const label = chat.querySelector("[data-testid='block-label']");
  const users = chat.querySelectorAll("[data-testid='user']");
  const bots = chat.querySelectorAll("[data-testid='bot']");
  const button = chat.querySelector('.scroll-down-button-container button');
  return {chat: rect(chat), label: rect(label), user: rect(users[0]),
          bots: Array.from(bots).map(rect), button: rect(button)};
}"""
# Scroll the chat's scrolling box so the n-th bot message's last element is in view; then
# the element at that element's centre.
_LAST_SECTION_JS = """(n) => {
  const bot = document.querySelectorAll("#bedside-chat [data-testid='bot']")[n - 1];
  let box = bot.parentElement;
  while (box && !['auto', 'scroll'].includes(getComputedStyle(box).overflowY)) {
    box = box.parentElement; }
  const all = bot.querySelectorAll('p, li, h4');
  const last = all[all.length - 1];
  box.scrollTop = box.scrollHeight;
  const r = last.getBoundingClientRect(), b = box.getBoundingClientRect();
  const hit = document.elementFromPoint((r.left + r.right) / 2, (r.top + r.bottom) / 2);
  return {text: last.innerText, inside: r.top >= b.top - 1 && r.bottom <= b.bottom + 1,
          topmost: !!hit && (hit === last || last.contains(hit) || hit.contains(last))};
}"""
NEWCOMER_VIEWPORT = {"width": 1280, "height": 900}
# Scroll the chat so the last answer starts at the top of its box (as after Enter).
_SHOW_LAST_ANSWER_JS = """() => {
  const bots = document.querySelectorAll("#bedside-chat [data-testid='bot']");
  bots[bots.length - 1].scrollIntoView({block: 'start'}); }"""


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["left"] < b["right"]
        and b["left"] < a["right"]
        and a["top"] < b["bottom"]
        and b["top"] < a["bottom"]
    )


def _open_chat(page: Any, base: str) -> None:
    page.set_viewport_size(NEWCOMER_VIEWPORT)
    page.goto(f"{base}/chat/", wait_until="load")
    page.locator("#bedside-question textarea").wait_for(timeout=60_000)


def test_the_conversation_uses_the_window_and_nothing_covers_its_text(
    page: Any, bedside: dict[str, str]
) -> None:
    """In a 1280x900 window the chat is taller than the old 560 px slot; the speaker label
    does not cover a long question; a long answer (the bundled corpus's) can be scrolled to
    its last section, which is not covered; the scroll button keeps clear of the messages."""
    _open_chat(page, bedside["bedside"])
    _ask(page, LONG_QUESTION, 1)
    page.evaluate(
        """() => { const user = document.querySelector("#bedside-chat [data-testid='user']");
        user.scrollIntoView({block: 'start'}); }"""
    )
    layout = page.evaluate(_LAYOUT_JS)
    assert layout["chat"]["height"] > 560, layout["chat"]
    assert layout["label"] is None or not _overlap(layout["label"], layout["user"]), layout
    _ask(page, SEED, 2)
    page.evaluate(_SHOW_LAST_ANSWER_JS)
    _shot(page, "20-chat-long-answer")
    page.screenshot(path=str(ARTIFACTS / "20-chat-long-answer-window.png"))  # what fits

    last = page.evaluate(_LAST_SECTION_JS, 2)
    assert last["inside"] and last["topmost"], last
    assert "not a substitute for clinical judgement" in last["text"]

    # Scrolled back to the top, the scroll-to-end button shows; it covers no message.
    page.evaluate(
        """() => { const bot = document.querySelector("#bedside-chat [data-testid='bot']");
        let box = bot.parentElement;
        while (!['auto', 'scroll'].includes(getComputedStyle(box).overflowY)) {
          box = box.parentElement; }
        box.scrollTop = 0; }"""
    )
    button = page.locator("#bedside-chat .scroll-down-button-container button")
    button.wait_for(timeout=10_000)
    layout = page.evaluate(_LAYOUT_JS)
    assert layout["button"] is not None
    covered = [b for b in layout["bots"] + [layout["user"]] if _overlap(layout["button"], b)]
    assert covered == [], (layout["button"], covered)


def test_the_dose_check_is_a_summary_with_passed_checks_folded(
    page: Any, fast_servers: dict[str, str]
) -> None:
    _open_chat(page, fast_servers["none"])
    _ask(page, BIVALIRUDIN, 1)
    panel = page.locator("#dose-check")
    panel.locator(".dose-check-panel").wait_for(timeout=10_000)
    folded = panel.locator("details.dose-ok")
    assert folded.count() == 1
    assert folded.get_attribute("open") is None  # closed until the reader opens it
    ok = panel.locator(".mark-info")
    assert ok.count() >= 1
    assert folded.locator(".mark-info").count() == ok.count()
    assert not folded.locator("tr.finding").first.is_visible()
    assert panel.locator(".dose-summary").is_visible()
    # Readable type: the panel's text is no smaller than the page's body text.
    sizes = page.evaluate(
        """() => [parseFloat(getComputedStyle(document.querySelector(
            '#dose-check .dose-summary')).fontSize),
          parseFloat(getComputedStyle(document.querySelector('#bedside-question textarea'))
            .fontSize)]"""
    )
    assert sizes[0] >= sizes[1], sizes
    panel.screenshot(path=str(ARTIFACTS / "21-dose-check-folded.png"))
    folded.locator("summary").click()
    assert folded.locator("tr.finding").first.is_visible()


def test_feedback_buttons_and_the_patient_disclaimer_read_as_words(
    page: Any, fast_servers: dict[str, str]
) -> None:
    _open_chat(page, fast_servers["none"])
    page.locator("#bedside-feedback").click()
    for button in ("#bedside-up", "#bedside-down"):
        shown = page.locator(button)
        shown.wait_for(timeout=10_000)
        words = shown.inner_text().strip()
        assert re.fullmatch(r"[A-Za-z ,]+", words), words  # no emoji the fonts lack
        assert shown.bounding_box()["width"] > 40
    bar = page.locator("#bedside-disclaimer")
    assert "for healthcare professionals" in bar.inner_text()
    page.locator("#bedside-audience").get_by_text("patient", exact=True).click()
    assert "for healthcare professionals" not in bar.inner_text()
    assert "not medical advice" in bar.inner_text()


def test_the_widget_demo_makes_no_request_that_fails(
    page: Any, fast_servers: dict[str, str]
) -> None:
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    page.on("requestfailed", lambda r: missing.append(f"{r.url} ({r.failure})"))
    page.set_viewport_size(NEWCOMER_VIEWPORT)
    page.goto(f"{fast_servers['none']}/widget-demo", wait_until="load")
    component = page.locator("#web-component gradio-app")
    component.locator("#bedside-question textarea").wait_for(timeout=60_000)
    page.frame_locator("#iframe iframe").locator("#bedside-question textarea").wait_for(
        timeout=60_000
    )
    # gradio's stylesheet reached the host page: the component is styled.
    sheets = page.evaluate(
        """() => Array.from(document.styleSheets)
            .filter(s => { try { return s.href && s.cssRules.length > 0; }
                           catch (e) { return false; } })  // a sheet that did not load
            .map(s => s.href)"""
    )
    assert any("/assets/index-" in s for s in sheets), sheets
    _answered_component = _ask(component, BIVALIRUDIN, 1)
    assert _answered_component.locator("a.cite").count() >= 1
    page.evaluate("() => document.querySelector('#web-component').scrollIntoView()")
    page.screenshot(path=str(ARTIFACTS / "22-widget-demo.png"))
    # The queue's long polls end when the page does; only the page's own loads count.
    assert [u for u in missing if "/gradio_api/" not in u] == []
