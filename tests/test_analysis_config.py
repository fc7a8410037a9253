"""The `[analysis]` configuration section, read by `belvedere analyse`: parameters and default
streams per analysis, `--param` on top, bad values refused by name."""

from __future__ import annotations

import pytest
from analysis_archive import flat_inventory, write_archive
from conftest import run_cli

from belvedere.config import ConfigError, load
from pipelines.seismic.ingest import ingest_seismic
from pipelines.store import open_store
from pipelines.store.products import product_streams

CHANNELS = ("XX.AAA.00.HHZ", "XX.BBB.00.HHZ")


def test_the_section_maps_to_each_analysis_parameters(tmp_path):
    f = tmp_path / "b.toml"
    f.write_text('[analysis]\nrsam_bands = ["1-4", "4-8"]\nrsam_intervals_s = [600]\n'
                 'detect_thr_on = 5.0\ndetect_streams = ["XX.*"]\n')
    cfg = load(f, env={})
    assert cfg.analysis.parameters("rsam") == {"bands": [[1.0, 4.0], [4.0, 8.0]],
                                               "intervals_s": [600]}
    assert cfg.analysis.parameters("detect") == {"thr_on": 5.0}
    assert cfg.analysis.parameters("psd") == {}
    assert cfg.analysis.streams("detect") == ["XX.*"] and cfg.analysis.streams("psd") == []
    env = load(None, env={"BELVEDERE_ANALYSIS_RSAM_BANDS": "0.1-1,1-10"})
    assert env.analysis.parameters("rsam")["bands"] == [[0.1, 1.0], [1.0, 10.0]]


@pytest.mark.parametrize("text, words", [
    ('rsam_bands = ["2-1"]', ["[analysis] rsam_bands", "0 < LOW < HIGH"]),
    ('rsam_metrics = ["peak"]', ["rsam_metrics", "mean_abs or rms"]),
    ("detect_sta_s = -1", ["detect_sta_s", "greater than 0"]),
    ("detect_nope = 1", ["unknown key [analysis] detect_nope"]),
])
def test_bad_values_are_refused_by_name(tmp_path, text, words):
    f = tmp_path / "b.toml"
    f.write_text(f"[analysis]\n{text}\n")
    with pytest.raises(ConfigError) as exc:
        load(f, env={})
    for w in words:
        assert w in str(exc.value)


def test_belvedere_analyse_reads_the_section(tmp_path):
    sds = tmp_path / "sds"
    write_archive(sds, CHANNELS, rate=20.0, days=1, bursts_s=())
    xml = flat_inventory(tmp_path / "flat.xml", CHANNELS, 20.0)
    store = str(tmp_path / "a.zarr")
    ingest_seismic(store, [str(sds)], [str(xml)])
    f = tmp_path / "b.toml"
    f.write_text('[analysis]\nrsam_bands = ["1-4"]\nrsam_intervals_s = [600]\n'
                 'rsam_metrics = ["rms"]\nrsam_streams = ["XX.AAA.*"]\n')
    out = run_cli("analyse", "rsam", "--store", store, "--config", str(f))
    assert out.returncode == 0, out.stderr
    st = open_store(store)
    assert product_streams(st, "rsam") == ["XX.AAA.00.HHZ"]
    assert list(st.root["_products/XX.AAA.00.HHZ/rsam"].group_keys()) == ["1-4Hz_600s_rms"]
    # --param wins over the file
    out = run_cli("analyse", "rsam", "XX.BBB.*", "--store", store, "--config", str(f),
                  "--param", "metrics=[\"mean_abs\"]")
    assert out.returncode == 0, out.stderr
    assert list(open_store(store).root["_products/XX.BBB.00.HHZ/rsam"].group_keys()) == \
        ["1-4Hz_600s_mean_abs"]
