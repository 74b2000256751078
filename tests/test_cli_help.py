"""Every console script: --help lists the choices of its enumerated flags, groups its flags, shows examples and no
'(default: None)'; --version prints the package version; a bad choice exits 2 with one line naming the flag and the
choices, before any work. In-process (through the same launcher the console script calls); one real subprocess."""
import configparser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
cfg = configparser.ConfigParser(); cfg.read(ROOT / "settings.ini")
SCRIPTS = dict(e.split("=") for e in cfg["DEFAULT"]["console_scripts"].split())
VERSION = cfg["DEFAULT"]["version"]

# the enumerated flags each command must list (and refuse a wrong value for)
CHOICES = {
    "sfx-prepare": ["--task-type {classification,binary,regression}", "--source {sample,histdata,csv}", "--on-bad-rows {raise,drop}",
                    "--sentiment-device {cpu,cuda,cuda:N}"],
    "sfx-train": ["--device {auto,cpu,cuda,cuda:N,mps}", "--task-type {classification,binary,regression}", "--source {sample,histdata,csv}"],
    "sfx-train-multitask": ["--loss-weighting {fixed,uncertainty,gradnorm,dwa}", "--select-on {tasks,direction}", "--device {auto,cpu,cuda,cuda:N,mps}"],
    "sfx-evaluate": ["--sizing {fixed,confidence}", "--split {train,val,test}", "--device {auto,cpu,cuda,cuda:N,mps}", "--on-bad-rows {raise,drop}"],
    "sfx-ensemble": ["--timesfm-version {2.5,3}", "--sizing {fixed,confidence}", "--device {auto,cpu,cuda,cuda:N,mps}"],
    "sfx-gdelt-download": [],
    "sfx-a3c": ["--env-mode {backtesting,simulated}", "--task-type {classification,binary,regression}", "--eval-split {val,test,none}"],
    "sfx-sac": ["--env-mode {backtesting,simulated}", "--device {auto,cpu,cuda,cuda:N,mps}", "--action {discrete,continuous}",
                "--eval-split {val,test,none}"],
}

def call(name, *argv):
    "Run console script `name` in this process as its entry point would; returns (exit code, stdout, stderr)."
    from conftest import run_cli_here                          # one in-process runner for every test (tests/conftest.py)
    r = run_cli_here(name, *argv)
    return r.returncode, r.stdout, r.stderr

def test_every_script_is_covered():
    missing = [s for s in SCRIPTS if s not in CHOICES and s not in ("sfx-pipeline", "sfx-tune")]
    assert not missing, f"add the enumerated flags of {missing} to CHOICES"

@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_help_lists_choices_groups_and_examples(name):
    code, out, err = call(name, "--help")
    assert code == 0, err
    for c in CHOICES.get(name, []): assert c in out, f"{name} --help lacks {c!r}"
    assert "(default: None)" not in out and "(default: )" not in out
    assert "--threads THREADS" in out and "on this machine" in " ".join(out.split())         # the default thread count is stated
    assert "--version" in out and "\nexamples:\n" in out and f"  {name}" in out.split("examples:")[1]
    assert "\ncompute:\n" in out and "\ngeneral:\n" in out                  # grouped, not one long list

@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_version(name):
    code, out, err = call(name, "--version")
    assert code == 0 and out.strip() == f"{name} {VERSION}", (out, err)

BAD = [(name, flag.split()[0]) for name, flags in CHOICES.items() for flag in flags]

@pytest.mark.parametrize("name,flag", BAD)
def test_bad_choice_exits_2_in_one_line(name, flag, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = call(name, flag, "bogus")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0] and "invalid choice 'bogus' (choose from" in lines[0], err
    assert list(tmp_path.iterdir()) == []                                   # refused before any work

def test_console_script_refuses_bad_choice_before_work(cli, tmp_path):
    r = cli("sfx-evaluate", "--sizing", "kelly", cwd=tmp_path, timeout=120)
    assert r.returncode == 2 and r.stderr.strip() == ("sfx-evaluate: error: argument --sizing: invalid choice 'kelly' "
                                                       "(choose from fixed, confidence) (see --help)"), r.stderr
    assert list(tmp_path.iterdir()) == []
