"""The publication page in a real browser: headless Chromium at 1280 and 375 px, checked by axe-core.

Skips unless both are installed (``apt-get install chromium``, ``npm install -g axe-core``); nothing is
downloaded at run time. axe runs inside the page and writes its result into the DOM, which
``chromium --dump-dom`` prints; the page's own layout is measured the same way.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from kouminrenkei_sheets.publish import HTML_NAME, publish
from test_publish import make_config, small_register

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)


def _axe_path() -> Path | None:
    npm = shutil.which("npm")
    roots = [Path("/usr/lib/node_modules"), Path("/usr/local/lib/node_modules")]
    if npm:
        try:
            out = subprocess.run([npm, "root", "-g"], capture_output=True, text=True, timeout=30, check=False)
            roots.insert(0, Path(out.stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    return next((r / "axe-core" / "axe.min.js" for r in roots if (r / "axe-core" / "axe.min.js").is_file()), None)


AXE = _axe_path()
pytestmark = pytest.mark.skipif(CHROMIUM is None or AXE is None, reason="chromium と axe-core がありません")

PROBE = """
<script>
window.addEventListener("load", async () => {
  const out = document.createElement("pre");
  out.id = "probe";
  const tables = [...document.querySelectorAll("table.cards")];
  const layout = {
    viewport: document.documentElement.clientWidth,
    scroll: document.documentElement.scrollWidth,
    widest_table: Math.max(...tables.map(t => t.getBoundingClientRect().width)),
    first_row_display: tables.length ? getComputedStyle(tables[0].querySelector("tbody tr")).display : "",
  };
  const result = await axe.run(document, {runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]});
  out.textContent = JSON.stringify({layout, violations: result.violations.map(v => (
    {id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(" "))}))});
  if (window !== window.top) { window.top.postMessage(out.textContent, "*"); } else { document.body.appendChild(out); }
});
</script>
"""

# Headless Chromium will not make a window narrower than about 500 px, so a phone's width is an
# iframe of that width: the page's media queries answer to the iframe's viewport.
HOST = """<!DOCTYPE html><html lang="ja"><head><meta charset="utf-8"><title>host</title></head><body>
<iframe src="{src}" width="{width}" height="900" title="page"></iframe>
<script>
window.addEventListener("message", (e) => {{
  const out = document.createElement("pre"); out.id = "probe"; out.textContent = e.data; document.body.appendChild(out);
}});
</script></body></html>
"""


def run_in_chromium(page: Path, width: int, profile: Path) -> dict[str, Any]:
    assert CHROMIUM is not None and AXE is not None
    html = page.read_text(encoding="utf-8")
    probe = f"<script>{AXE.read_text(encoding='utf-8')}</script>{PROBE}"
    checked = page.with_name(f"checked-{width}.html")
    checked.write_text(html.replace("</body>", probe + "</body>"), encoding="utf-8")
    target = checked
    if width < 600:
        target = page.with_name(f"host-{width}.html")
        target.write_text(HOST.format(src=checked.name, width=width), encoding="utf-8")
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-extensions", "--disable-sync", "--no-first-run", "--no-default-browser-check",
        "--disable-component-update", "--mute-audio", f"--user-data-dir={profile}",
        f"--window-size={max(width, 800)},1000", "--virtual-time-budget=20000", "--allow-file-access-from-files",
        "--dump-dom", target.as_uri(),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
    assert found, f"chromium gave no result: {done.stderr[-2000:]}"
    text = found.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    result: dict[str, Any] = json.loads(text)
    return result


@pytest.mark.parametrize("width", [1280, 375])
def test_page_in_chromium_has_no_axe_violations_and_fits_the_screen(tmp_path: Path, width: int) -> None:
    result = publish(make_config(tmp_path, cp932=True), small_register(), today=date(2025, 9, 30))
    got = run_in_chromium(result.out_dir / HTML_NAME, width, tmp_path / f"profile-{width}")
    assert got["violations"] == [], got["violations"]
    layout = got["layout"]
    assert layout["viewport"] == width - 15 or layout["viewport"] == width, layout  # less a scroll bar
    assert layout["scroll"] <= layout["viewport"], layout  # nothing wider than the screen
    if width == 375:
        assert layout["first_row_display"] == "block" and layout["widest_table"] <= layout["viewport"]
    else:
        assert layout["first_row_display"] == "table-row"
