"""The check report: a line per requirement as it runs, and a table when the cell shows it."""
from workshop.checks import Report


def finished_report():
    report = Report("03")
    report.require("ids: each in one partition", lambda: None)
    report.require("tokens: wrap-around", lambda parts: f"partitions 0 and {parts} overlap at token 5 <&>", 1)
    report.require("windows: split", lambda: 1 / 0)
    report.skip("pushdown", "needs Spark 4.1+")
    return report


def test_each_requirement_prints_a_line_and_the_report_keeps_it(capsys):
    report = finished_report()
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "  PASS  ids: each in one partition"
    assert printed[1] == "  FAIL  tokens: wrap-around: partitions 0 and 1 overlap at token 5 <&>"
    assert printed[2].startswith("  FAIL  windows: split: ZeroDivisionError: division by zero (at <lambda>, line")
    assert printed[3] == "  SKIP  pushdown: needs Spark 4.1+"
    assert not report.passed and set(report.failures) == {"tokens: wrap-around", "windows: split"}


def test_a_notebook_shows_a_table_not_an_object_repr():
    report = finished_report()
    text = repr(report)
    assert text.splitlines()[0] == "Lab 03: 1/3 passed; not yet: see the FAIL lines"
    assert "object at 0x" not in text and "PASS  ids: each in one partition" in text and "SKIP  pushdown" in text
    table = report._repr_html_()
    assert table.count("<tr>") == 5  # the header and the four requirements
    assert "overlap at token 5 &lt;&amp;&gt;" in table and "<&>" not in table  # the learner's text is escaped
    assert ">FAIL<" in table and ">PASS<" in table and ">SKIP<" in table


def test_a_report_with_nothing_checked_has_not_passed():
    assert not Report("00").passed
