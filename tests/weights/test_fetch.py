"""`ssa-bench weights fetch|check` against a local HTTP server serving a generated checkpoint."""
from __future__ import annotations

import io
import json

import pytest
import yaml
from weights_server import Served, WeightsServer, checkpoint_bytes, sha256

from ssa_bench.cli import main
from ssa_bench.errors import DataError
from ssa_bench.weights import catalog as weights_catalog
from ssa_bench.weights.catalog import WeightEntry
from ssa_bench.weights.fetch import CHUNK, PlainProgress, check, fetch, sha256_of
from ssa_bench.weights.mapping import KeyMapping

DATA = checkpoint_bytes()


def entry(url: str | None, file: str = "backbone-demo.pth", sha256_full: str | None = None,
          prefix: str | None = None, name: str = "segnext_t") -> WeightEntry:
    return WeightEntry(name=name, title="test checkpoint", file=file, url=url, page="https://example.org/weights",
                       shipped_as=None, sha256=sha256_full, sha256_prefix=prefix, mapping=KeyMapping(),
                       licence="test")


@pytest.fixture
def server():
    with WeightsServer() as running:
        yield running


@pytest.fixture
def weights_dir(tmp_path, monkeypatch):
    directory = tmp_path / "weights"
    monkeypatch.setenv("SSA_BENCH_WEIGHTS", str(directory))
    return directory


def test_download_reports_progress_checks_the_hash_and_renames_atomically(server, weights_dir):
    url = server.serve("/ckpt.pth", Served(DATA))
    calls = []
    path = fetch(entry(url, sha256_full=sha256(DATA)), progress=lambda e, done, total: calls.append((done, total)))
    assert path == weights_dir / "backbone-demo.pth" and path.read_bytes() == DATA
    assert not (weights_dir / "backbone-demo.pth.part").exists()
    assert calls[0] == (0, len(DATA)) and calls[-1] == (len(DATA), len(DATA))
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    # a second fetch finds the verified file and downloads nothing
    fetch(entry(url, sha256_full=sha256(DATA)))
    assert len(server.files["/ckpt.pth"].requests) == 1


def test_an_openmmlab_style_prefix_is_checked(server, weights_dir):
    url = server.serve("/x.pth", Served(DATA))
    fetch(entry(url, prefix=sha256(DATA)[:8]))
    assert (weights_dir / "backbone-demo.pth").read_bytes() == DATA


def test_an_interrupted_download_resumes_with_a_range_request(server, weights_dir):
    served = Served(DATA, cut_after=400_000)
    url = server.serve("/ckpt.pth", served)
    with pytest.raises(DataError) as stopped:
        fetch(entry(url, sha256_full=sha256(DATA)))
    assert "again: it resumes" in str(stopped.value)
    part = weights_dir / "backbone-demo.pth.part"
    assert part.stat().st_size == 400_000 and not (weights_dir / "backbone-demo.pth").exists()
    calls = []
    path = fetch(entry(url, sha256_full=sha256(DATA)), progress=lambda e, done, total: calls.append(done))
    assert served.requests[-1] == {"range": "bytes=400000-", "status": 206}
    assert calls[0] == 400_000                         # progress starts where the part file ended
    assert path.read_bytes() == DATA and not part.exists()


def test_a_server_that_ignores_range_restarts_from_zero(server, weights_dir):
    url = server.serve("/ckpt.pth", Served(DATA, ignore_range=True))
    (weights_dir).mkdir()
    (weights_dir / "backbone-demo.pth.part").write_bytes(b"garbage that is not the start of the file")
    assert fetch(entry(url, sha256_full=sha256(DATA))).read_bytes() == DATA


def test_a_hash_mismatch_is_refused_and_nothing_is_kept(server, weights_dir):
    url = server.serve("/ckpt.pth", Served(DATA))
    with pytest.raises(DataError) as refused:
        fetch(entry(url, prefix="0badc0de"))
    text = str(refused.value)
    assert "backbone-demo.pth" in text and "0badc0de" in text and "ssa-bench weights fetch segnext_t" in text
    assert "\n" not in text
    assert not any(weights_dir.iterdir())              # neither the part nor a final file


def test_a_tampered_file_in_place_is_refused_until_forced(server, weights_dir):
    url = server.serve("/ckpt.pth", Served(DATA))
    weights_dir.mkdir()
    (weights_dir / "backbone-demo.pth").write_bytes(b"tampered")
    with pytest.raises(DataError, match="weights fetch segnext_t --force"):
        fetch(entry(url, sha256_full=sha256(DATA)))
    assert fetch(entry(url, sha256_full=sha256(DATA)), force=True).read_bytes() == DATA


def test_a_web_page_instead_of_the_file_says_how_to_download_by_hand(server, weights_dir):
    url = server.serve("/drive", Served(b"<html>virus scan warning</html>", content_type="text/html; charset=utf-8"))
    with pytest.raises(DataError) as refused:
        fetch(entry(url))
    text = str(refused.value)
    assert "web page" in text and "https://example.org/weights" in text and str(weights_dir) in text


def test_no_direct_link_says_where_to_put_the_file(weights_dir):
    with pytest.raises(DataError) as refused:
        fetch(entry(None))
    assert "by hand" in str(refused.value) and str(weights_dir / "backbone-demo.pth") in str(refused.value)


def test_plain_progress_prints_a_line_per_tenth():
    stream = io.StringIO()
    progress = PlainProgress(stream)
    item = entry(None)
    for done in range(0, 1001, 50):
        progress(item, done, 1000)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("backbone-demo.pth:   0%") and lines[-1].startswith("backbone-demo.pth: 100%")
    assert len(lines) == 11


def test_check_verifies_a_folder_filled_by_hand(tmp_path):
    folder = tmp_path / "by-hand"
    folder.mkdir()
    (folder / "good.pth").write_bytes(DATA)
    (folder / "bad.pth").write_bytes(DATA + b"x")
    (folder / "nohash.pth").write_bytes(DATA)
    entries = [entry(None, "good.pth", sha256_full=sha256(DATA)), entry(None, "bad.pth", prefix=sha256(DATA)[:8]),
               entry(None, "nohash.pth"), entry(None, "absent.pth", prefix="12345678")]
    states = {r.entry.file: r.state for r in check(entries, folder)}
    assert states == {"good.pth": "ok", "bad.pth": "mismatch", "nohash.pth": "unverified", "absent.pth": "missing"}


# -- the command line, with a catalog pointing at the local server ---------------------------

@pytest.fixture
def site_catalog(tmp_path, monkeypatch, server, weights_dir):
    """A site catalog ($SSA_BENCH_WEIGHTS_CATALOG): two baselines' checkpoints on the local server."""
    good = server.serve("/good.pth", Served(DATA))
    bad = server.serve("/bad.pth", Served(DATA + b"tampered"))
    document = {"schema": 1, "weights": {
        "segnext_t": {"file": f"mscan_t-{sha256(DATA)[:8]}.pth", "url": good, "sha256_prefix": sha256(DATA)[:8],
                      "page": "https://example.org/segnext", "licence": "test"},
        "segformer_b5": {"file": "mit_b5-0badc0de.pth", "url": bad, "sha256_prefix": "0badc0de",
                         "page": "https://example.org/segformer", "licence": "test"}}}
    path = tmp_path / "site-catalog.yaml"
    path.write_text(yaml.safe_dump(document))
    monkeypatch.setenv("SSA_BENCH_WEIGHTS_CATALOG", str(path))
    weights_catalog._load.cache_clear()
    yield document
    weights_catalog._load.cache_clear()


def test_cli_fetch_then_check(site_catalog, weights_dir, capsys):
    assert main(["weights", "fetch", "segnext_t"]) == 0
    err = capsys.readouterr().err
    assert "100%" in err and "hash checked" in err
    assert main(["weights", "check", "segnext_t"]) == 0
    assert "ok (hash matches)" in capsys.readouterr().out


def test_cli_refuses_a_mismatch_with_exit_2_and_one_line(site_catalog, weights_dir, capsys):
    assert main(["weights", "fetch", "segformer_b5"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("ssa-bench: error:")]
    assert len(errors) == 1
    assert "mit_b5-0badc0de.pth" in errors[0] and "ssa-bench weights fetch segformer_b5" in errors[0]
    assert not (weights_dir / "mit_b5-0badc0de.pth").exists()


def test_cli_check_names_a_tampered_file(site_catalog, weights_dir, capsys):
    weights_dir.mkdir()
    (weights_dir / "mit_b5-0badc0de.pth").write_bytes(DATA)
    assert main(["weights", "check"]) == 2
    captured = capsys.readouterr()
    assert "HASH MISMATCH" in captured.out and "mit_b5-0badc0de.pth" in captured.err
    # the site catalog names two baselines and inherits the shipped rest: all of them are checked
    missing = next(line for line in captured.err.splitlines() if " missing: `ssa-bench weights fetch " in line)
    assert "segnext_t" in missing and "fcn_r101" in missing and "segformer_b5" not in missing


def test_cli_list(site_catalog, weights_dir, capsys):
    assert main(["weights", "list", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    # the two the site names are its own; every other baseline is the shipped entry
    assert set(rows) == set(weights_catalog._read_blocks(str(weights_catalog.CATALOG_FILE)))
    assert rows["segnext_t"]["file"] == site_catalog["weights"]["segnext_t"]["file"]
    assert rows["fcn_r101"]["url"].startswith("https://download.openmmlab.com/")
    assert rows["segnext_t"]["present"] is False and rows["segnext_t"]["path"].startswith(str(weights_dir))
    assert main(["weights", "list"]) == 0
    assert "segformer_b5" in capsys.readouterr().out


def test_cli_unknown_name_lists_the_catalog(site_catalog, capsys):
    assert main(["weights", "fetch", "segnext"]) == 2
    err = capsys.readouterr().err
    assert "segnext_t" in err and len(err.strip().splitlines()) == 1


# -- what each failure says, whole, and the less common paths (found by mutation testing) -------

def test_a_verified_file_in_place_reports_itself_complete(server, weights_dir):
    url = server.serve("/ckpt.pth", Served(DATA))
    fetch(entry(url, sha256_full=sha256(DATA)))
    calls = []
    fetch(entry(url, sha256_full=sha256(DATA)), progress=lambda e, done, total: calls.append((done, total)))
    assert calls == [(len(DATA), len(DATA))]


def test_a_download_into_a_folder_not_made_yet(server, tmp_path):
    url = server.serve("/ckpt.pth", Served(DATA))
    folder = tmp_path / "shared" / "team" / "weights"
    assert fetch(entry(url, sha256_full=sha256(DATA)), folder).read_bytes() == DATA


def test_a_part_longer_than_the_file_is_redone_in_the_same_folder(server, tmp_path, weights_dir):
    url = server.serve("/ckpt.pth", Served(DATA))
    folder = tmp_path / "elsewhere"                    # not $SSA_BENCH_WEIGHTS
    folder.mkdir()
    (folder / "backbone-demo.pth.part").write_bytes(DATA + b"trailing bytes")
    path = fetch(entry(url, sha256_full=sha256(DATA)), folder)
    assert path == folder / "backbone-demo.pth" and path.read_bytes() == DATA
    assert [r["status"] for r in server.files["/ckpt.pth"].requests] == [416, 200]
    assert not weights_dir.exists()


def test_a_one_byte_part_resumes(server, weights_dir):
    served = Served(DATA)
    url = server.serve("/ckpt.pth", served)
    weights_dir.mkdir()
    (weights_dir / "backbone-demo.pth.part").write_bytes(DATA[:1])
    assert fetch(entry(url, sha256_full=sha256(DATA))).read_bytes() == DATA
    assert served.requests == [{"range": "bytes=1-", "status": 206}]


def test_an_http_error_is_one_line_with_where_to_download_by_hand(server, weights_dir):
    url = f"{server.base}/not-there.pth"
    with pytest.raises(DataError) as refused:
        fetch(entry(url))
    path = weights_dir / "backbone-demo.pth"
    assert str(refused.value) == (
        f"{path}: downloading backbone-demo.pth failed: HTTP 404 Not Found from {url} -- try again later, or "
        f"download it by hand from https://example.org/weights and save it as {path}")


def test_an_unreachable_server_says_how_to_fetch_offline(server, weights_dir):
    url = f"{server.base}/ckpt.pth"
    server.__exit__(None, None, None)                  # the port is closed now: connection refused
    with pytest.raises(DataError) as refused:
        fetch(entry(url))
    path = weights_dir / "backbone-demo.pth"
    error = refused.value
    assert error.file == str(path) and error.message.startswith(f"cannot reach {url}: ")
    assert "Connection refused" in error.message
    assert error.fix == (f"on a machine without internet, fetch on one that has it and copy the file to {path} "
                         "(or set SSA_BENCH_WEIGHTS to a shared folder)")


def test_a_short_download_names_the_part_file_and_how_far_it_got(server, weights_dir):
    url = server.serve("/ckpt.pth", Served(DATA, cut_after=1000))
    with pytest.raises(DataError) as stopped:
        fetch(entry(url, sha256_full=sha256(DATA)))
    part = weights_dir / "backbone-demo.pth.part"
    assert str(stopped.value) == (f"{part}: download of backbone-demo.pth stopped at 1000 of {len(DATA)} bytes -- "
                                  "run `ssa-bench weights fetch segnext_t` again: it resumes")


def test_a_failure_while_writing_names_the_part_file(server, weights_dir):
    url = server.serve("/ckpt.pth", Served(DATA))

    def disk_full(item, done, total):
        if done:                                       # after the first chunk is written
            raise OSError(28, "No space left on device")

    with pytest.raises(DataError) as stopped:
        fetch(entry(url, sha256_full=sha256(DATA)), progress=disk_full)
    part = weights_dir / "backbone-demo.pth.part"
    error = stopped.value
    assert error.file == str(part) and error.fix == "run `ssa-bench weights fetch segnext_t` again: it resumes"
    assert error.message.startswith("download of backbone-demo.pth stopped at ")
    assert error.message.endswith(f" of {len(DATA)} bytes ([Errno 28] No space left on device)")
    assert 0 < part.stat().st_size < len(DATA)         # kept for the resume


def test_check_reports_the_path_and_size_of_each_file(tmp_path):
    (tmp_path / "good.pth").write_bytes(DATA)
    results = check([entry(None, "good.pth", sha256_full=sha256(DATA)), entry(None, "absent.pth")], tmp_path)
    assert [(r.path, r.state, r.sha256, r.size) for r in results] == [
        (tmp_path / "good.pth", "ok", sha256(DATA), len(DATA)), (tmp_path / "absent.pth", "missing", None, None)]


def test_hashing_reports_progress_in_bytes(tmp_path):
    (tmp_path / "x.pth").write_bytes(DATA)
    seen = []
    assert sha256_of(tmp_path / "x.pth", seen.append) == sha256(DATA)
    assert seen[-1] == len(DATA) and seen[0] == min(len(DATA), CHUNK)


def test_plain_progress_shows_the_sizes():
    stream = io.StringIO()
    progress = PlainProgress(stream)
    progress(entry(None), 1_500_000, 3_000_000)
    progress(entry(None, "unknown-length.pth"), 2_000_000, None)
    assert stream.getvalue().splitlines() == ["backbone-demo.pth:  50% 1.5/3.0 MB", "unknown-length.pth: 2.0 MB"]
