"""Bad inputs: each gives a DataError naming the file, line and field."""
import zipfile
from pathlib import Path

import pytest

from sequence_fx.data import DataError, read_histdata, read_ohlcv, check_pair, resolve_tz

GOOD = ["20190102 170000;1.146020;1.146130;1.145890;1.146130;0",
        "20190102 170100;1.146130;1.146200;1.146000;1.146100;0",
        "20190102 170200;1.146100;1.146300;1.146050;1.146250;0"]

def write(tmp_path, lines, name="DAT_ASCII_EURUSD_M1_2019.csv"):
    p = tmp_path / name
    p.write_text("\n".join(lines) + ("\n" if lines else ""))
    return p

def bad(i, line): return GOOD[:i] + [line] + GOOD[i + 1:]

@pytest.mark.parametrize("lines, match", [
    ([], r"empty file"),
    (bad(1, "20190102 170100;1.1;1.2;1.0;1.1"), r"line 2: expected 6 ';'-separated fields, found 5"),
    (bad(1, "20190102 170100;1.1;1.2;1.0;1.1;0;7"), r"line 2: expected 6 ';'-separated fields, found 7"),
    (bad(1, "2019-01-02T17:01;1.146130;1.146200;1.146000;1.146100;0"), r"line 2: field 'time': unparsable"),
    (bad(1, "20190102 170100;abc;1.146200;1.146000;1.146100;0"), r"line 2: field 'open': not a number"),
    (bad(2, "20190102 170200;0;1.146300;0;1.146250;0"), r"line 3: field 'open': non-positive open"),
    (bad(2, "20190102 170200;1.1461;1.1463;1.14605;nan;0"), r"line 3: field 'close': missing or non-numeric close"),
    (bad(1, "20190102 170100;1.146130;1.145000;1.146200;1.146100;0"), r"line 2: field 'high': high < low"),
    (GOOD + ["20190102 170100;1.146130;1.146900;1.146000;1.146800;0"], r"line 4: field 'time': duplicate timestamp .* different prices"),
    ([GOOD[1], GOOD[0], GOOD[2]], r"line 2: field 'time': rows out of time order"),
])
def test_histdata_bad_input(tmp_path, lines, match):
    p = write(tmp_path, lines)
    with pytest.raises(DataError, match=match) as e:
        read_histdata(p)
    assert str(p) in str(e.value)

def test_drop_reports_counts(tmp_path):
    p = write(tmp_path, GOOD + ["20190102 170300;1.146130;1.145000;1.146200;1.146100;0", "20190102 170400;-1;1;1;1;0"])
    bars, rep = read_histdata(p, on_bad_rows="drop", report=True)
    assert len(bars) == 3 and rep.dropped == {"non-positive open": 1, "high < low": 1}

def test_identical_duplicates_are_counted_not_fatal(tmp_path):
    bars, rep = read_histdata(write(tmp_path, GOOD + [GOOD[1]]), report=True, duplicates="raise")
    assert len(bars) == 3 and rep.duplicates_identical == 1

def test_duplicates_resolved_by_rule(tmp_path):
    p = write(tmp_path, GOOD + ["20190102 170100;1.146130;1.146900;1.146000;1.146800;0"])
    first, rep = read_histdata(p, duplicates="first", report=True)
    last = read_histdata(p, duplicates="last")
    assert rep.duplicates_resolved == 1
    assert first["close"].iloc[1] == pytest.approx(1.1461) and last["close"].iloc[1] == pytest.approx(1.1468)

def test_zip_without_csv(tmp_path):
    z = tmp_path / "DAT_ASCII_EURUSD_M1_2019.zip"
    with zipfile.ZipFile(z, "w") as f: f.writestr("readme.txt", "nothing here")
    with pytest.raises(DataError, match=r"zip holds no \.csv"): read_histdata(z)

def test_zip_with_csv_and_glob(tmp_path):
    for y, lines in [(2019, GOOD)]:
        z = tmp_path / f"DAT_ASCII_EURUSD_M1_{y}.zip"
        with zipfile.ZipFile(z, "w") as f:
            f.writestr(f"DAT_ASCII_EURUSD_M1_{y}.csv", "\n".join(lines) + "\n"); f.writestr("status.txt", "ok")
    assert len(read_histdata(str(tmp_path / "DAT_ASCII_EURUSD_M1_*.zip"))) == 3

def test_unknown_pair_and_zone():
    with pytest.raises(DataError, match="unknown pair 'eurxyz'"): check_pair("eurxyz")
    with pytest.raises(DataError, match="unknown source time zone"): resolve_tz("Europe/Atlantis")

def test_generic_csv_mapping_and_errors(tmp_path):
    p = tmp_path / "q.csv"
    p.write_text("Date,Bid Open,High,Low,Close\n2020-01-01 00:00,1.1,1.2,1.0,1.15\n2020-01-01 00:05,1.15,1.3,x,1.2\n")
    with pytest.raises(DataError, match=r"q.csv, line 3: field 'low': missing or non-numeric low"):
        read_ohlcv(p, columns={"open": "Bid Open"})
    with pytest.raises(DataError, match=r"field 'open': no such column"):
        read_ohlcv(p)
    e = tmp_path / "e.csv"; e.write_text("")
    with pytest.raises(DataError, match="empty file"): read_ohlcv(e)
