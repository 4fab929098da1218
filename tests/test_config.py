"""Config parsing, presets and the one-line errors for bad input."""

import json

import pytest

from gankit import config as C
from gankit.cli import main
from gankit.errors import ConfigError


def test_every_preset_resolves_and_has_a_description():
    names = C.preset_names()
    for required in ("mlp-mnist", "dcgan-mnist", "wgan-gp-mnist", "lsgan-mnist", "wgan-clip-mnist", "cgan-mnist",
                     "dcgan-digits", "toy-ring", "toy-grid", "dcgan-folder", "dcgan-mnist-quick", "pix2pix-emoji",
                     "cyclegan-emoji", "pix2pix-folder", "cyclegan-folder"):
        assert required in names
    for name in names:
        raw = C.load_preset(name)
        assert raw.get("description"), name
        extra = {"data": {"path": "/some/folder"}} if "-folder" in name else None
        cfg = C.resolve(name, extra=extra)
        assert cfg.description == raw["description"]


def test_overrides_are_typed_and_nested():
    cfg = C.resolve("dcgan-mnist", overrides=["train.batch_size=16", "train.g_optim.lr=1e-4",
                                              "model.d_hidden=[64, 32]", "data.hflip=true"])
    assert cfg.train.batch_size == 16
    assert cfg.train.g_optim.lr == pytest.approx(1e-4)
    assert cfg.model.d_hidden == [64, 32]
    assert cfg.data.hflip is True


def test_config_file_is_merged_over_the_preset(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  steps: 7\n  d_optim: {lr: 3e-4}\n")
    cfg = C.resolve("dcgan-mnist", config_file=f)
    assert cfg.train.steps == 7 and cfg.train.d_optim.lr == pytest.approx(3e-4)
    assert cfg.train.d_optim.betas == [0.5, 0.999]  # kept from the preset


def test_round_trip_through_json():
    cfg = C.resolve("cgan-mnist")
    again = C.from_dict(json.loads(json.dumps(C.to_dict(cfg))))
    assert again == cfg


def test_penalty_with_batch_norm_in_d_is_refused():
    with pytest.raises(ConfigError, match="model.d_norm=batch"):
        C.resolve("dcgan-mnist", overrides=["model.d_norm=batch"], extra={"loss": {"gp_weight": 10}})


@pytest.mark.parametrize(
    "override, words",
    [
        ("train.batchsize=3", "unknown config key train.batchsize (did you mean train.batch_size?)"),
        ("nope.x=1", "unknown config key nope"),
        ("train.batch_size=abc", "train.batch_size: expected an integer"),
        ("train.batch_size=2.5", "train.batch_size: expected an integer"),
        ("data.hflip=3", "data.hflip: expected true or false"),
        ("train.g_optim.lr=-0.1", "train.g_optim.lr: must be greater than zero"),
        ("data.resolution=48", "power of two"),
        ("loss.name=hinge2", "loss.name: 'hinge2' is not one of"),
        ("loss.weight_clip=0.01", "needs loss.name=wasserstein"),
        ("train.device=tpu", "train.device"),
        ("train.ema=1.5", "train.ema"),
        ("train.lr_warmup=-5", "train.lr_warmup: must be >= 0"),
        ("train.g_optim.betas=[0.5]", "betas"),
        ("train", "expected key=value"),
    ],
)
def test_bad_values_give_one_clear_line(override, words):
    with pytest.raises(ConfigError) as err:
        C.resolve("dcgan-mnist", overrides=[override])
    msg = str(err.value)
    assert words in msg
    assert "\n" not in msg


def test_incompatible_combinations():
    with pytest.raises(ConfigError, match="toy 2-D data uses model.arch=mlp"):
        C.resolve("toy-ring", overrides=["model.arch=dcgan"])
    with pytest.raises(ConfigError, match="label smoothing|label_smoothing"):
        C.resolve("wgan-gp-mnist", overrides=["loss.label_smoothing=0.1"])
    with pytest.raises(ConfigError, match="pick one"):
        C.resolve("wgan-clip-mnist", overrides=["loss.gp_weight=10", "model.d_norm=none"])
    with pytest.raises(ConfigError, match="needs a path"):
        C.resolve("dcgan-folder")


def test_unknown_preset_and_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="did you mean dcgan-mnist"):
        C.resolve("dcgan-mnst")
    with pytest.raises(ConfigError, match="does not exist"):
        C.resolve("dcgan-mnist", config_file=tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        C.resolve("dcgan-mnist", config_file=bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("3\n")
    with pytest.raises(ConfigError, match="mapping"):
        C.resolve("dcgan-mnist", config_file=scalar)


def test_cli_reports_config_errors_with_exit_code_2(tmp_path, capsys):
    code = main(["train", "--preset", "dcgan-digits", "--set", "train.lr=1", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("gankit: error: unknown config key train.lr")
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()  # nothing was created for a bad config


def test_cli_presets_lists_descriptions(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "dcgan-mnist" in out and "(default)" in out and "toy-grid" in out
