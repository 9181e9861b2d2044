"""`report`: the static site, Markdown and badges, on records made here (hostile ones included)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from reports.model import OUTCOMES, load
from reports.render import GLYPHS, render_site
from reports.rowdata import DATA_GLOBAL

from . import factory as f

HOSTILE_ARCH = '<script>alert("arch")</script>'
HOSTILE_BACKEND = "evil\"'><img src=x onerror=alert(1)>"
HOSTILE_MESSAGE = (
    '<script>alert("msg")</script> ünïcödé 模型 🚀 \u202eRTL\u202c \ud800 \x1b[31mred & "quoted" \'single\''
)
HOSTILE_TASK = 'text-classification"><b>bold</b>'
HOSTILE_CHECK = 'parity.x"><script>alert(1)</script>/../../../../../escaped'  # ../ up to tmp_path


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str, str]] = []  # (tag, attribute, value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value is not None:
                self.links.append((tag, name, value))


def site_pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def assert_self_contained(site: Path) -> None:
    """Every local link resolves; no stylesheet, script or image comes from the network."""
    for page in site_pages(site):
        parser = Links()
        parser.feed(page.read_text(encoding="utf-8"))
        for tag, _, value in parser.links:
            if value.startswith(("#", "data:")):
                continue
            assert not value.startswith(("http:", "https:", "//")) or tag == "a", (
                f"{page}: remote {tag} {value}"
            )
            if tag == "a" and value.startswith(("http:", "https:")):
                continue
            target = (page.parent / value.split("#")[0].split("?")[0]).resolve()
            assert target.exists(), f"{page.relative_to(site)} links to missing {value}"
    for row, parts in row_data(site).items():  # the cells' links, from the site's root
        archs = [cell for cells in parts["archs"].values() for cell in cells]
        for cell in [*parts["clauses"].values(), *parts["tasks"], *archs]:
            if cell is not None:
                assert (site / cell[4].split("#")[0]).is_file(), f"data/{row}.js links to missing {cell[4]}"


def row_data(site: Path) -> dict[str, dict]:
    """What the row data scripts (data/<row>.js) hold, by row slug; each is one assignment of JSON."""
    data = {}
    for script in sorted((site / "data").glob("*.js")):
        shape = rf'\(window\.{DATA_GLOBAL} = window\.{DATA_GLOBAL} \|\| \{{\}}\)\[("[^"]+")\] = (.*);\n'
        match = re.fullmatch(shape, script.read_text(encoding="utf-8"), re.S)
        assert match, script.name
        data[json.loads(match.group(1))] = json.loads(match.group(2))
        assert script.stem == json.loads(match.group(1))
    return data


def cell_text(cell: list | None) -> str:
    """A matrix or feature cell as site.js shows it: its lines, then a glyph and number per outcome."""
    if cell is None:
        return "no data"
    _, _, lines, counts, _ = cell
    return " ".join([*lines, "".join(f"{GLYPHS[o]}{n}" for o, n in zip(OUTCOMES, counts, strict=True) if n)])


def task_view(site: Path) -> dict[str, list[str]]:
    """The index's backends x tasks cells, as text, by row slug (all tasks, tiers, then tasks)."""
    return {row: [cell_text(c) for c in cells["tasks"]] for row, cells in row_data(site).items()}


def report(cli, site: Path, *args: object) -> str:
    result = cli("report", *args, "-o", site)
    assert result.code == 0, result.err
    return result.out


def test_standard_record_renders_every_page(tmp_path: Path, cli) -> None:
    site = tmp_path / "site"
    out = report(cli, site, f.standard(tmp_path / "a.jsonl"), "--markdown")
    assert "wrote" in out
    index = (site / "index.html").read_text()
    assert (
        "Compatibility matrix" in index
        and "passed / (passed + failed + xfailed + xpassed + crashed + timeout)" in index
    )
    assert "reference-ort" in index and "reference-ov" in index
    assert re.search(r"suite \S+ @ 0123abcd ·", index)  # the commit the records name
    cells = " | ".join(" | ".join(row) for row in task_view(site).values())
    assert "strict 87.5 %" in cells  # reference-ov: 7 passed of 8 scored, unsupported left out
    assert "not run" in cells and "unsupported" in cells
    assert "strict 87.5 %" not in index  # the cells are in the rows' data scripts
    for name in ("interop.html", "versions.html", "diff.html", "history.html", "style.css", "site.js"):
        assert (site / name).is_file()
    record = load([tmp_path / "a.jsonl"])
    checks = {(r.backend, r.check) for run in record.runs.values() for r in run.results.values()}
    assert len(list((site / "c").glob("*/*.html"))) == len(checks)  # one drill-down per backend and clause
    assert len(list((site / "b").glob("*.html"))) == 2 and len(list((site / "badges").glob("*.svg"))) == 2
    assert_self_contained(site)


def test_hostile_strings_are_shown_as_text(tmp_path: Path, cli) -> None:
    builder = f.run(env="<i>env</i>", backends=((HOSTILE_BACKEND, "1.0<b>"), ("reference-ort", "0.1.0")))
    builder.result(
        "parity.pytorch",
        "failed",
        backend=HOSTILE_BACKEND,
        task=HOSTILE_TASK,
        arch=HOSTILE_ARCH,
        message=HOSTILE_MESSAGE,
        metrics={"note": "<svg onload=alert(1)>", "max_abs_err": 3e-3, "atol": 1e-4},
        expectation={
            "outcome": "failed",
            "reason": "<script>alert('why')</script>",
            "link": "javascript:alert(1)",
        },
    )
    builder.result("parity.pytorch", backend="reference-ort", task=HOSTILE_TASK, arch=HOSTILE_ARCH)
    # A clause id no schema allows (only --validate checks its shape) names a drill-down file.
    builder.result(HOSTILE_CHECK, "failed", backend="reference-ort", message="<script>alert('c')</script>")
    builder.header["clauses"] = [
        {"id": HOSTILE_CHECK, "level": "core", "doc": "<img src=x onerror=alert(2)>"}
    ]
    # A later release of the hostile backend, so that "changed between versions" shows it too.
    later = f.run(
        env="<i>env</i>", backends=((HOSTILE_BACKEND, "2.0<i>"),), started_at="2026-11-29T10:00:00+00:00"
    )
    later.result(
        "parity.pytorch",
        backend=HOSTILE_BACKEND,
        task=HOSTILE_TASK,
        arch=HOSTILE_ARCH,
        message=HOSTILE_MESSAGE,
    )
    site = tmp_path / "site"
    record = f.write(tmp_path / "hostile.jsonl", builder.end(), later.end(), validated=0)
    report(cli, site, record, "--markdown")
    assert "▲1 fixed" in (site / "versions.html").read_text()
    written = {p.resolve() for p in tmp_path.rglob("*")} - {p.resolve() for p in site.rglob("*")}
    assert written == {(tmp_path / "hostile.jsonl").resolve(), site.resolve()}  # nothing outside the site
    for page in [*site_pages(site), *(site / "data").glob("*.js")]:
        html = page.read_text(encoding="utf-8")
        if page.suffix == ".js":  # JSON with <, > and & escaped: no record string closes a <script>
            assert "<" not in html and ">" not in html, page.name
        for raw in (
            "<script>alert",
            "<img src=x",
            "<svg onload",
            "<i>env</i>",
            "<b>bold",
            'href="javascript:',
        ):
            assert raw not in html, f"{page.relative_to(site)} contains {raw}"
    (test_page,) = [p for p in (site / "c").glob("*/*.html") if "ünïcödé" in p.read_text()]
    html = test_page.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&#34;msg&#34;)&lt;/script&gt;" in html
    assert "模型 🚀" in html and "ünïcödé" in html and "&amp; &#34;quoted&#34; &#39;single&#39;" in html
    assert "javascript:alert(1)" in html  # shown as text, not as a link
    for md in (site / "markdown").glob("*.md"):
        text = md.read_text(encoding="utf-8")
        assert "<script" not in text and "<img" not in text and "<b>" not in text
    for badge in (site / "badges").glob("*.svg"):
        svg = ET.fromstring(badge.read_text(encoding="utf-8"))  # well-formed XML
        assert not list(svg.iter("{http://www.w3.org/2000/svg}script"))
    assert_self_contained(site)


def test_ids_from_an_installed_suite_read_relative_to_the_suite_package(tmp_path: Path, cli) -> None:
    """Records written before ids were relative name the wheel's path under the tox env."""
    wheel = ".tox/matrix/lib/python3.11/site-packages/conformance/checks/"
    builder = f.run(backends=(("reference-ort", "0.1.0"), ("reference-ov", "0.1.0")))
    for backend, outcome in (("reference-ort", "passed"), ("reference-ov", "failed")):
        test_id = f"{wheel}test_parity.py::test_parity_pytorch[{backend}-text-classification-bert]"
        builder.result("parity.pytorch", outcome, backend=backend, test_id=test_id)
    site = tmp_path / "site"
    report(cli, site, f.write(tmp_path / "old.jsonl", builder.end()), "--markdown")
    shown = [p.read_text(encoding="utf-8") for p in site.rglob("*") if p.suffix in (".html", ".md")]
    assert not [text for text in shown if "site-packages" in text or ".tox" in text]
    interop = (site / "interop.html").read_text()
    assert ">checks/test_parity.py::test_parity_pytorch[reference-ov-text-classification-bert]</a>" in interop


def test_feature_table_lists_the_catalogue_and_each_column_is_a_data_script(tmp_path: Path, cli) -> None:
    catalogue = [
        {"id": "load.local_dir", "level": "core", "doc": "loads from a local folder"},
        {"id": "save.atomic", "level": "strict", "doc": "<script>alert('doc')</script> leaves the folder"},
    ]
    builder = f.run(backends=(("reference-ort", "0.1.0"), ("reference-ov", "0.1.0")), clauses=catalogue)
    builder.result("load.local_dir").result("load.local_dir", "failed", backend="reference-ov")
    builder.result("parity.pytorch", backend="reference-ov")  # not in the catalogue: listed, no definition
    site = tmp_path / "site"
    report(cli, site, f.write(tmp_path / "a.jsonl", builder.end()))
    index = (site / "index.html").read_text()
    clauses = re.findall(r'<tr data-clause="([^"]+)" data-level="(\w+)">', index)
    assert clauses == [("load.local_dir", "core"), ("parity.pytorch", "core"), ("save.atomic", "strict")]
    assert "&lt;script&gt;alert(&#39;doc&#39;)&lt;/script&gt; leaves the folder" in index
    scripts = re.findall(r'<script src="data/([^"]+)\.js"></script>', index)
    assert len(scripts) == 2 and sorted(scripts) == sorted(row_data(site))
    ov = next(cells for row, cells in row_data(site).items() if "reference-ov" in row)
    cells = ov["clauses"]
    assert set(cells) == {"load.local_dir", "parity.pytorch"}  # save.atomic did not run: no cell
    core, strict, lines, counts, href = cells["load.local_dir"]
    assert (core, strict, lines, counts[:2]) == ("p0", "p0", ["0 %"], [0, 1])
    page, anchor = href.split("#")
    assert (site / page).is_file() and f'<section id="{anchor}"' in (site / page).read_text()
    assert_self_contained(site)


def test_empty_run_shows_no_data_never_zero(tmp_path: Path, cli) -> None:
    site = tmp_path / "site"
    report(cli, site, f.write(tmp_path / "empty.jsonl", f.run().end()))
    index = (site / "index.html").read_text()
    assert "no data" in index and not re.search(r"(?<![\d.])0 %", index)
    assert [set(row) for row in task_view(site).values()] == [{"no data"}]
    backend_page = next((site / "b").glob("*.html")).read_text()
    assert "No results for this backend" in backend_page
    assert_self_contained(site)


def test_no_runs_at_all_still_renders(tmp_path: Path, cli) -> None:
    empty = tmp_path / "nothing.jsonl"
    empty.write_text("")
    site = tmp_path / "site"
    result = cli("report", empty, "-o", site)
    assert result.code == 0 and "empty record" in result.err
    assert "No results in this record" in (site / "index.html").read_text()


def test_record_with_only_required_fields_renders(tmp_path: Path, cli) -> None:
    builder = f.minimal().result("load.local_dir", "failed", task=None, arch=None, message="")
    site = tmp_path / "site"
    report(cli, site, f.write(tmp_path / "minimal.jsonl", builder.end()), "--markdown")
    index = (site / "index.html").read_text()
    assert "bare" in index and "unnamed env" in index
    assert [row[0] for row in task_view(site).values()] == ["core 0 % strict 0 % ✗1"]
    assert " @ " not in index.split("run(s)")[0]  # no commit in the record: none shown
    assert "(no task)" in index
    assert_self_contained(site)


def test_missing_shard_renders_as_no_data(tmp_path: Path, cli) -> None:
    shard0 = f.run(shard=(0, 3)).result("load.local_dir").end()
    shard2 = f.run(shard=(2, 3)).result("load.hub").end()
    # Another environment has a task the missing shard would have run for main.
    ipex = f.run(env="ipex").result("load.local_dir", task="fill-mask").result("load.local_dir").end()
    site = tmp_path / "site"
    paths = [f.write(tmp_path / f"{n}.jsonl", r) for n, r in (("s0", shard0), ("s2", shard2), ("ipex", ipex))]
    report(cli, site, *paths)
    index = (site / "index.html").read_text()
    assert "shard(s) 1 of 3 missing" in index and "shards missing: 1 of 3" in index
    (main_row,) = [" | ".join(row) for slug, row in task_view(site).items() if "-main-" in slug]
    assert "no data" in main_row
    assert not re.search(r"(?<![\d.])0 %", main_row)


def test_crashed_test_and_its_drill_down(tmp_path: Path, cli) -> None:
    builder = f.run().result("parity.pytorch", arch="roberta")
    builder.result(
        "parity.pytorch",
        "crashed",
        stage="infer",
        message="worker died: SIGSEGV in libonnxruntime.so",
        metrics={"max_abs_err": 3e-3, "mean_abs_err": 2e-4, "atol": 1e-4, "rtol": 1e-4, "dtype": "float32"},
        duration_s=12.5,
    )
    site = tmp_path / "site"
    report(cli, site, f.write(tmp_path / "crash.jsonl", builder.end()))
    (row,) = task_view(site).values()
    assert row[0] == "core 50.0 % strict 50.0 % ✓1☠1"  # the crash counts in the denominator
    (page,) = [p for p in (site / "c").glob("*/*.html") if "SIGSEGV" in p.read_text()]
    html = page.read_text()
    assert html.count('<tr id="r') == 2  # both parity.pytorch results, each under its anchor
    for expected in (
        "crashed",
        "<td>infer</td>",
        "worker died: SIGSEGV in libonnxruntime.so",
        "12.500 s",
        "max abs error 0.003 vs atol 0.0001",
        "above atol (30 times atol)",
        "mean abs error 0.0002",
        "float32",
        "pytest --pyargs conformance --backend reference-ort",
        builder.run_id,
        "3.11.7",
        "onnxruntime 1.22.0",
    ):
        assert expected in html, expected
    assert "Same check elsewhere" not in html  # only one backend
    run_page = site / "r"
    assert any("avx2 fma" in p.read_text() for p in run_page.glob("*.html"))


def test_killed_run_is_flagged_and_its_results_shown(tmp_path: Path, cli) -> None:
    killed = f.run().result("load.local_dir").result("load.hub", "failed", message="HTTP 500")
    site = tmp_path / "site"
    result = cli("report", f.write(tmp_path / "killed.jsonl", killed), "-o", site)
    assert result.code == 0 and "killed" in result.err
    index = (site / "index.html").read_text()
    assert "no end line (killed)" in index and "killed run: partial" in index
    assert [row[0] for row in task_view(site).values()] == ["core 50.0 % strict 50.0 % ✓1✗1"]


def test_backend_page_groups_clauses_by_family(tmp_path: Path, cli) -> None:
    site = tmp_path / "site"
    report(cli, site, f.standard(tmp_path / "a.jsonl"))
    page = next(p for p in (site / "b").glob("*.html") if "reference-ov" in p.name).read_text()
    families = [m.strip() for m in re.findall(r'<tr class="family"><th colspan="\d+">(\w[\w ]*)', page)]
    assert families == ["Loading", "Parity", "Save", "Push", "Bad input"]
    assert '<th scope="col">bert</th>' in page and '<th scope="col">roberta</th>' in page
    assert page.count('class="m o-') == 9  # one mark per result, each a link to its test page


def test_backend_specific_failures(tmp_path: Path, cli) -> None:
    builder = f.run(
        backends=(("reference-ort", "0.1.0"), ("reference-ov", "0.1.0"), ("optimum-ort", "2.1.0"))
    )
    for backend in ("reference-ort", "reference-ov", "optimum-ort"):
        builder.result("parity.pytorch", "failed" if backend == "reference-ov" else "passed", backend=backend)
        builder.result("load.hub", "failed", backend=backend)  # fails everywhere: not backend-specific
    site = tmp_path / "site"
    report(cli, site, f.write(tmp_path / "three.jsonl", builder.end()))
    interop = (site / "interop.html").read_text()
    assert "test_pytorch[reference-ov-" in interop and "test_hub" not in interop
    assert "optimum-ort 2.1.0 · main, reference-ort 0.1.0 · main" in interop
    ov_page = next(p for p in (site / "c").glob("*/*.html") if "test_pytorch[reference-ov" in p.read_text())
    assert "Same check elsewhere" in ov_page.read_text()
    assert re.search(
        r'href="\.\./\.\./c/reference-ort-\w+/parity\.pytorch\.html">reference-ort</a>', ov_page.read_text()
    )


NINE_ARCHS = f.BIG_ARCHS[:9]


def deviation_rows(html: str) -> list[str]:
    return re.findall(r"<tr><td><code>.*?</tr>", html.split('class="list deviations"', 1)[1], re.S)


def test_identical_deviations_are_one_row_listing_their_cases(tmp_path: Path, cli) -> None:
    builder = f.run(backends=(("optimum-ort", "2.1.0"), ("reference-ort", "0.1.0")))
    for arch in NINE_ARCHS:
        builder.result("parity.default_inputs", backend="reference-ort", arch=arch)
        builder.result(
            "parity.default_inputs", "failed", backend="optimum-ort", arch=arch,
            message=f"token_type_ids is not filled in\ntraceback of {arch}",
        )  # fmt: skip
    builder.result(
        "parity.default_inputs", "failed", backend="optimum-ort", task="fill-mask", message="other"
    )
    builder.result("parity.default_inputs", backend="reference-ort", task="fill-mask")
    builder.result("load.hub", "xfailed", backend="optimum-ort", message="token_type_ids is not filled in")
    site = tmp_path / "site"
    report(cli, site, f.write(tmp_path / "a.jsonl", builder.end()))
    interop = (site / "interop.html").read_text()
    (other, same) = deviation_rows(interop)  # by reason within a check
    assert "token_type_ids is not filled in" in same and "<summary>9 cases</summary>" in same
    assert same.count('<li><a href="') == 9 and "traceback of" not in same  # the first line is the reason
    assert "reference-ort 0.1.0 · main" in same
    assert ">other<" in other and "<details>" not in other and other.count("<a href=") == 1
    assert "optimum-ort 2.1.0 · main</a> (10 tests, 2 deviations)" in interop
    page = next(p for p in (site / "b").glob("*.html") if "optimum-ort" in p.name).read_text()
    rows = deviation_rows(page)
    assert len(rows) == 3 and "<summary>9 cases</summary>" in rows[2]  # load.* first, then parity.*
    assert "load.hub" in rows[0] and "o-xfailed" in rows[0]
    assert_self_contained(site)


def test_releases_are_ordered_by_version_and_a_step_may_cross_environments(tmp_path: Path, cli) -> None:
    """optimum-intel 2.x needs transformers 5, so it runs in another set than 1.27; the runs happened
    newest release first. The steps follow the version numbers, and 2.1.0 is compared with 1.27.0: a
    deviation it brought (xfailed by a version-scoped expectation) is a regression of that step."""
    runs = []
    for day, (version, env, pytorch) in enumerate(
        (("2.1.0", "peers5", "xfailed"), ("1.27.0", "main", "passed"), ("1.26.1", "main", "failed")), 1
    ):
        run = f.run(
            f"r{day}",
            backends=(("optimum-ov", version),),
            env=env,
            started_at=f"2026-11-{day:02d}T10:00:00+00:00",
        )
        runs.append(run.result("parity.pytorch", pytorch, backend="optimum-ov").end())
    site, page = versions_page(tmp_path, cli, runs)
    assert "<h2>optimum-ov · main, peers5</h2>" in page
    assert step_labels(page) == ["1.26.1 → 1.27.0", "1.27.0 (main) → 2.1.0 (peers5)"]
    cells = re.findall(r"<td>.*?</td>", page, re.S)
    assert "▲1 fixed" in cells[0] and "▼1 regressed" in cells[1]
    assert_self_contained(site)


def versions_page(tmp_path: Path, cli, runs: list) -> tuple[Path, str]:
    """The site of these runs and its "changed between versions" page, which has one backend's section."""
    site = tmp_path / "site"
    report(cli, site, f.write(tmp_path / "a.jsonl", *runs))
    page = (site / "versions.html").read_text()
    assert page.count("<section>") == 1
    return site, page


def step_labels(page: str) -> list[str]:
    return re.findall(r'<th scope="col">([^<]+)<br>', page)


def test_changed_between_versions_lists_regressions_and_fixes_per_clause(tmp_path: Path, cli) -> None:
    runs = []
    for day, (version, pytorch, hub) in enumerate(
        (("1.25.0", "passed", "failed"), ("1.26.0", "failed", "passed"), ("1.27.0", "failed", "passed")), 1
    ):
        run = f.run(
            f"r{day}", backends=(("optimum-ort", version),), started_at=f"2026-11-{day:02d}T10:00:00+00:00"
        )
        run.result("parity.pytorch", pytorch, backend="optimum-ort").result(
            "parity.pytorch", pytorch, backend="optimum-ort", arch="vit"
        )
        run.result("load.hub", hub, backend="optimum-ort").result("load.local_dir", backend="optimum-ort")
        runs.append(run.end())
    runs.append(
        f.run("other", backends=(("reference-ort", "0.1.0"),)).result("load.hub").end()
    )  # one release only
    site, page = versions_page(tmp_path, cli, runs)
    assert "<h2>optimum-ort · main</h2>" in page
    assert step_labels(page) == ["1.25.0 → 1.26.0", "1.26.0 → 1.27.0"]
    rows = dict(re.findall(r'<tr><th scope="row"><code>([\w.]+)</code></th>(.*?)</tr>', page, re.S))
    assert list(rows) == ["load.hub", "parity.pytorch"]  # load.local_dir never changed
    first, second = re.findall(r"<td.*?</td>", rows["parity.pytorch"], re.S)
    assert "▼2 regressed" in first and "fixed" not in first and "regressed" not in second
    assert "▲1 fixed" in rows["load.hub"]
    link = re.search(r'<a href="([^"]+)">', first).group(1)
    target, anchor = link.split("#")
    assert (site / target).is_file() and f'<section id="{anchor}"' in (site / target).read_text()
    assert anchor.startswith("optimum-ort-1-26-0-")  # the new release's section
    assert_self_contained(site)


def test_diff_page_and_history(tmp_path: Path, cli) -> None:
    history = tmp_path / "history"

    def record(day: int, ort_hub: str, with_ov: bool) -> f.RunBuilder:
        backends = (
            (("reference-ort", "0.1.0"), ("reference-ov", "0.1.0"))
            if with_ov
            else (("reference-ort", "0.1.0"),)
        )
        builder = f.run(backends=backends, started_at=f"2026-11-{day:02d}T10:00:00+00:00")
        builder.result("load.local_dir").result("load.hub", ort_hub)
        if with_ov:
            builder.result("load.local_dir", backend="reference-ov")
        return builder.end()

    f.write(history / "2026-11-01.jsonl", record(1, "passed", True))
    f.write(history / "2026-11-02.jsonl", record(2, "passed", False))  # reference-ov: no data that day
    (history / "broken.jsonl").write_text("not a record\n")
    current = f.write(tmp_path / "now.jsonl", record(3, "failed", True))
    site = tmp_path / "site"
    result = cli("report", current, "-o", site, "--history", history)
    assert result.code == 0 and "history file skipped" in result.err
    diff = (site / "diff.html").read_text()
    assert "base: 2026-11-02.jsonl" in diff
    assert diff.index("Regressions (1)") < diff.index("Fixes (0)") < diff.index("New tests (1)")
    assert "passed → failed" in diff and re.search(
        r'href="c/reference-ort-\w+/load\.hub\.html#r\w{12}"', diff
    )
    hist = (site / "history.html").read_text()
    assert hist.count('<svg class="trend"') == 2
    ov = hist[hist.index("reference-ov · main") :]
    assert "no data" in ov  # the day without reference-ov is a gap, not 0 %
    assert hist.count('<polyline class="core"') >= 1
    ET.fromstring(re.search(r"<svg class=\"trend\".*?</svg>", hist, re.S).group(0))  # well-formed SVG
    # An explicit baseline wins over the history.
    report(cli, site, current, "--baseline", history / "2026-11-01.jsonl")
    assert "base: " + str(history / "2026-11-01.jsonl") in (site / "diff.html").read_text()


def test_markdown_tables_and_badges(tmp_path: Path, cli) -> None:
    site = tmp_path / "site"
    report(cli, site, f.standard(tmp_path / "a.jsonl"), "--markdown")
    index = (site / "markdown" / "index.md").read_text()
    assert "| Backend | Environment | Core | Strict | feature-extraction | text-classification |" in index
    assert "✅ 100 %" in index and "unsupported" in index
    ov = next((site / "markdown").glob("reference-ov-*.md")).read_text()
    assert "## Supported architectures: reference-ov 0.1.0 (main)" in ov
    assert "| bert | ✅ 100 % | ✅ 100 % | — |" in ov
    badge = ET.fromstring(next((site / "badges").glob("reference-ov-*.svg")).read_text())
    assert "core 100 % · strict 87.5 %" in ET.tostring(badge, encoding="unicode")


def test_precision_tiers_get_their_own_columns(tmp_path: Path, cli) -> None:
    run = f.run(backends=(("reference-ov", "0.1.0"), ("reference-ort", "0.1.0")))
    run.result("parity.pytorch", backend="reference-ov").result("parity.pytorch", backend="reference-ort")
    for check in ("precision.applied", "precision.trained_embeddings"):
        run.result(check, backend="reference-ov", precision="bf16", task="feature-extraction")
    run.result("precision.applied", "failed", backend="reference-ov", precision="bf16", arch="vit")
    run.result("precision.applied", "unsupported", backend="reference-ort", precision="bf16")
    site = tmp_path / "site"
    report(cli, site, f.write(tmp_path / "a.jsonl", run), "--markdown")
    index = (site / "index.html").read_text()
    assert index.count('class="tier"') == 1 and ">bf16 tier</th>" in index
    header = (site / "markdown" / "index.md").read_text().splitlines()
    assert "| Core | Strict | bf16 tier | feature-extraction |" in next(
        line for line in header if "Backend" in line
    )
    rows = {line.split("]")[0]: line for line in header if line.startswith("| [")}
    assert "| ⚠️ 66.6 % |" in rows["| [reference-ov 0.1.0"]  # 2 of 3 bf16 results passed
    assert "| unsupported |" in rows["| [reference-ort 0.1.0"]
    page = next((site / "c").glob("reference-ov-*/precision.trained_embeddings.html"))
    assert "feature-extraction · bert · bf16 tier</td>" in page.read_text()


def test_record_without_tiers_has_no_tier_column(tmp_path: Path, cli) -> None:
    site = tmp_path / "site"
    report(cli, site, f.standard(tmp_path / "a.jsonl"))
    assert 'class="tier"' not in (site / "index.html").read_text()


def test_rerender_replaces_old_pages_and_refuses_foreign_folders(tmp_path: Path, cli) -> None:
    site = tmp_path / "site"
    record = f.standard(tmp_path / "a.jsonl")
    report(cli, site, record)
    stale = site / "c" / "stale.html"
    stale.write_text("old")
    report(cli, site, record)
    assert not stale.exists()
    foreign = tmp_path / "docs"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    result = cli("report", record, "-o", foreign)
    assert result.code == 2 and "refusing" in result.err and (foreign / "keep.txt").exists()


def test_rendering_needs_no_network(tmp_path: Path, no_network: list) -> None:
    record = load([f.standard(tmp_path / "a.jsonl")])
    render_site(record, tmp_path / "site", markdown=True)
    assert no_network == []


def test_pages_stay_small_as_the_matrix_grows(tmp_path: Path) -> None:
    """4 backends x 3 releases x 2 environments, about 10,000 results: files grow with backends x
    clauses, and no page passes 300 KB (benchmarks/test_reports.py measures 50,000 results)."""
    planned = f.plan(f.MATRIX_CLAUSES)
    path = f.matrix(
        tmp_path / "matrix.jsonl", planned, backends=f.MATRIX_BACKENDS[:4], versions=3, validated=500
    )
    record = load([path])
    assert record.result_count > 9000
    render_site(record, tmp_path / "site", markdown=True)
    site = tmp_path / "site"
    sizes = {p.relative_to(site): p.stat().st_size for p in site.rglob("*") if p.is_file()}
    largest = max(sizes, key=sizes.get)
    assert sizes[largest] <= 300 * 1024, f"{largest}: {sizes[largest]} bytes"
    drill_downs = {p.name.split(".html")[0] for p in sizes if p.parts[0] == "c"}
    assert {clause for clause, _, _ in planned} <= drill_downs  # a page per backend and clause ...
    parts = [p for p in sizes if re.fullmatch(r"[a-z_.]+\.\d\.html", p.name)]
    assert parts and len(sizes) < 400  # ... split by rows where the six sections would not fit
    second = (site / parts[0]).read_text()
    assert re.search(r'Part <a href="[^"]+">1</a> <strong>2</strong>', second)
    index = (site / "index.html").read_text()
    assert "checks/test_" not in index  # the index holds counts and links, not the data set


def test_many_backend_rows_keep_every_page_small(tmp_path: Path) -> None:
    """150 backend rows (6 backends x 25 releases): the cells of the index's task view and of the
    task pages are in the rows' data scripts, so no page grows by kilobytes per row (inline, the
    index was 475 KB and each task page 377 KB); every file stays under 300 KB, and the index and each
    task page still list every row and load its script."""
    clauses = ("parity.pytorch", "load.local_dir", "save.manifest")  # parity.pytorch: every zoo case
    planned = f.plan(tuple(c for c in f.MATRIX_CLAUSES if c[0] in clauses))
    path = f.matrix(tmp_path / "rows.jsonl", planned, versions=25, envs=("main",), validated=200)
    site = tmp_path / "site"
    render_site(load([path]), site)
    sizes = {p.relative_to(site): p.stat().st_size for p in site.rglob("*") if p.is_file()}
    largest = max(sizes, key=sizes.get)
    assert sizes[largest] <= 300 * 1024, f"{largest}: {sizes[largest]} bytes"
    data = row_data(site)
    assert len(data) == 150
    for page in [site / "index.html", *(site / "tasks").glob("*.html")]:
        html = page.read_text(encoding="utf-8")
        assert sorted(re.findall(r'<tr data-row="([^"]+)">', html)) == sorted(data), page.name
        assert sorted(re.findall(r'<script src="(?:\.\./)?data/([^"]+)\.js">', html)) == sorted(data)
    tasks = len(list((site / "tasks").glob("*.html")))
    assert tasks == 8 and all(len(cells["tasks"]) == 1 + tasks for cells in data.values())
    assert all(len(cells["archs"]) == tasks for cells in data.values())  # every row ran every task


@pytest.mark.parametrize("broken", ["missing", "conflict"])
def test_report_exits_2_on_unusable_input(tmp_path: Path, cli, broken: str) -> None:
    path = tmp_path / "in.jsonl"
    if broken == "conflict":
        f.write(path, f.run("r").result("load.hub").end(), f.run("r").result("load.hub", "failed").end())
    result = cli("report", path, "-o", tmp_path / "site")
    assert result.code == 2 and result.err.startswith("error: ")
